// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * VM discovery: iter/task_file visits every open file of every task; a
 * file whose dentry is "kvm-vm" (anon_inode_getfile name in kvm_main.c)
 * is a VM and its private_data the struct kvm.  For each one we emit a
 * KH_REC_VM record and one KH_REC_SLOT per memslot of each address space.
 *
 * Memslot layout differs by kernel; the flavours below are the one place
 * that knows.  Commit "KVM: Keep memslots in tree-based structures
 * instead of array-based ones" (5.17) replaced the sorted array
 * (used_slots, memslots[]) with per-set trees (gfn_tree, node_idx and
 * gfn_node[2] in each slot).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "kvmheat.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Unused: they put the streamed record types into this object's BTF, so
 * tests/test_abi.c can check them against the userspace layout. */
struct kh_vm_rec kh_abi_vm_rec __attribute__((unused));
struct kh_slot_rec kh_abi_slot_rec __attribute__((unused));
struct kh_iter_err_rec kh_abi_iter_err_rec __attribute__((unused));

/* 5.17+ */
struct kvm_memslots___tree {
	struct rb_root gfn_tree;
	int node_idx;
} __attribute__((preserve_access_index));

/* up to 5.16 */
struct kvm_memory_slot___array {
	gfn_t base_gfn;
	unsigned long npages;
	unsigned long userspace_addr;
	u32 flags;
	short id;
} __attribute__((preserve_access_index));

struct kvm_memslots___array {
	int used_slots;
	struct kvm_memory_slot___array memslots[];
} __attribute__((preserve_access_index));

#define KH_ITER_STACK	64

/* Too big for the 512-byte BPF stack: the tree-walk stack and its output. */
struct kh_iter_scratch {
	__u64 stack[KH_ITER_STACK];
	__u64 slots[KH_MAX_SLOTS_PER_VM];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kh_iter_scratch);
} iter_scratch SEC(".maps");

static __always_inline void kh_emit_slot(struct seq_file *seq, __u32 pid, __u64 kvm,
					 struct kvm_memory_slot *slot, __u16 as_id)
{
	struct kh_slot_rec r = {
		.hdr = { .type = KH_REC_SLOT, .size = sizeof(r) },
		.kvm = kvm,
		.pid = pid,
		.as_id = as_id,
	};

	r.base_gfn = BPF_CORE_READ(slot, base_gfn);
	r.npages = BPF_CORE_READ(slot, npages);
	r.hva = BPF_CORE_READ(slot, userspace_addr);
	r.id = BPF_CORE_READ(slot, id);
	r.flags = BPF_CORE_READ(slot, flags);
	bpf_seq_write(seq, &r, sizeof(r));
}

static __always_inline void kh_emit_err(struct seq_file *seq, __u32 pid, __u64 kvm, __u32 code)
{
	struct kh_iter_err_rec r = {
		.hdr = { .type = KH_REC_ITER_ERR, .size = sizeof(r) },
		.kvm = kvm,
		.pid = pid,
		.code = code,
	};

	bpf_seq_write(seq, &r, sizeof(r));
}

struct kh_tree_walk {
	struct kh_iter_scratch *sc;
	__u64 node_off;		/* offset of the set's gfn_node in kvm_memory_slot */
	int sp;
	int n;
	bool overflow;
};

/*
 * One step of a pre-order walk: pop a node, record its slot, push its
 * children.  Run under bpf_loop() so the verifier checks one step, not
 * every path through KH_MAX_SLOTS_PER_VM of them.
 */
static int kh_tree_step(__u32 i, struct kh_tree_walk *w)
{
	struct rb_node *node;
	__u64 l, r;

	if (w->sp <= 0 || w->sp > KH_ITER_STACK)
		return 1;
	w->sp--;
	node = (struct rb_node *)w->sc->stack[w->sp & (KH_ITER_STACK - 1)];
	if (w->n >= KH_MAX_SLOTS_PER_VM) {
		w->overflow = true;
		return 1;
	}
	w->sc->slots[w->n & (KH_MAX_SLOTS_PER_VM - 1)] = (__u64)node - w->node_off;
	w->n++;
	l = (__u64)BPF_CORE_READ(node, rb_left);
	r = (__u64)BPF_CORE_READ(node, rb_right);
	if (r && w->sp < KH_ITER_STACK)
		w->sc->stack[w->sp++ & (KH_ITER_STACK - 1)] = r;
	if (l && w->sp < KH_ITER_STACK)
		w->sc->stack[w->sp++ & (KH_ITER_STACK - 1)] = l;
	return 0;
}

static __always_inline void kh_emit_slots(struct seq_file *seq, __u32 pid, __u64 kvm,
					  struct kh_iter_scratch *sc, int n, __u16 as_id)
{
	for (int i = 0; i < KH_MAX_SLOTS_PER_VM; i++) {
		if (i >= n)
			break;
		kh_emit_slot(seq, pid, kvm, (struct kvm_memory_slot *)sc->slots[i], as_id);
	}
}

static __always_inline void kh_walk_tree(struct seq_file *seq, __u32 pid, __u64 kvm,
					 struct kvm_memslots___tree *ms, __u16 as_id)
{
	struct kh_tree_walk w = {};
	__u32 zero = 0;
	__u64 root;
	int idx;

	w.sc = bpf_map_lookup_elem(&iter_scratch, &zero);
	if (!w.sc)
		return;
	idx = BPF_CORE_READ(ms, node_idx) & 1;
	w.node_off = bpf_core_field_offset(struct kvm_memory_slot, gfn_node) +
		     idx * bpf_core_type_size(struct rb_node);
	root = (__u64)BPF_CORE_READ(ms, gfn_tree.rb_node);
	if (!root)
		return;
	w.sc->stack[0] = root;
	w.sp = 1;
	bpf_loop(KH_MAX_SLOTS_PER_VM + 1, kh_tree_step, &w, 0);
	if (w.overflow)
		kh_emit_err(seq, pid, kvm, KH_ITER_E_TOO_MANY);
	kh_emit_slots(seq, pid, kvm, w.sc, w.n, as_id);
}

static __always_inline void kh_walk_array(struct seq_file *seq, __u32 pid, __u64 kvm,
					  struct kvm_memslots___array *ms, __u16 as_id)
{
	__u64 base = (__u64)ms + bpf_core_field_offset(struct kvm_memslots___array, memslots);
	__u64 sz = bpf_core_type_size(struct kvm_memory_slot___array);
	int used = BPF_CORE_READ(ms, used_slots), i;

	if (used > KH_MAX_SLOTS_PER_VM)
		kh_emit_err(seq, pid, kvm, KH_ITER_E_TOO_MANY);
	for (i = 0; i < KH_MAX_SLOTS_PER_VM && i < used; i++)
		kh_emit_slot(seq, pid, kvm, (struct kvm_memory_slot *)(base + i * sz), as_id);
}

/* Common part: is this a VM file; emit its record; hand back the kvm. */
static __always_inline struct kvm *kh_vm_of(struct bpf_iter__task_file *ctx, int *nr_as,
					    __u32 *pid)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct kh_vm_rec vm = { .hdr = { .type = KH_REC_VM, .size = sizeof(vm) } };
	char name[8] = {};
	struct kvm *kvm;

	if (!task || !file)
		return NULL;
	/* Threads share the leader's file table: report each VM once. */
	if (task->pid != task->tgid)
		return NULL;
	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(file, f_path.dentry, d_name.name));
	/* Exact match: vCPU files are "kvm-vcpu:N". */
	if (name[0] != 'k' || name[1] != 'v' || name[2] != 'm' || name[3] != '-' ||
	    name[4] != 'v' || name[5] != 'm' || name[6] != '\0')
		return NULL;

	kvm = BPF_CORE_READ(file, private_data);
	*nr_as = bpf_core_field_size(kvm->memslots) / sizeof(void *);
	vm.kvm = (__u64)kvm;
	vm.pid = task->tgid;
	*pid = vm.pid;
	vm.fd = ctx->fd;
	vm.nr_vcpus = BPF_CORE_READ(kvm, online_vcpus.counter);
	vm.nr_as = *nr_as;
	BPF_CORE_READ_STR_INTO(&vm.comm, task, group_leader, comm);
	bpf_seq_write(seq, &vm, sizeof(vm));
	return kvm;
}

static __always_inline void *kh_memslots(struct kvm *kvm, int as)
{
	void *ms = NULL;

	bpf_probe_read_kernel(&ms, sizeof(ms), (void *)((__u64)kvm +
			      bpf_core_field_offset(struct kvm, memslots) + as * sizeof(void *)));
	return ms;
}

/*
 * The body both iterator programs share.  @tree is a constant at each call
 * and this is always inlined, so each program keeps only its own flavour:
 * kh_vms_array must not reference bpf_loop, which kernels before 5.17 lack.
 */
static __always_inline int kh_vms_iter(struct bpf_iter__task_file *ctx, const bool tree)
{
	struct seq_file *seq = ctx->meta->seq;
	__u32 pid = 0;
	int nr_as = 0;
	struct kvm *kvm = kh_vm_of(ctx, &nr_as, &pid);

	if (!kvm)
		return 0;
	for (int as = 0; as < 2 && as < nr_as; as++) {
		void *ms = kh_memslots(kvm, as);

		if (!ms)
			continue;
		if (tree && bpf_core_field_exists(struct kvm_memslots___tree, gfn_tree))
			kh_walk_tree(seq, pid, (__u64)kvm, ms, as);
		else if (!tree && bpf_core_field_exists(struct kvm_memslots___array, used_slots))
			kh_walk_array(seq, pid, (__u64)kvm, ms, as);
		else
			kh_emit_err(seq, pid, (__u64)kvm, KH_ITER_E_LAYOUT);
	}
	return 0;
}

/* 5.17+: memslots in trees.  Uses bpf_loop (5.17+ as well). */
SEC("iter/task_file")
int kh_vms_tree(struct bpf_iter__task_file *ctx)
{
	return kh_vms_iter(ctx, true);
}

/* Up to 5.16: sorted array of used_slots memslots. */
SEC("iter/task_file")
int kh_vms_array(struct bpf_iter__task_file *ctx)
{
	return kh_vms_iter(ctx, false);
}
