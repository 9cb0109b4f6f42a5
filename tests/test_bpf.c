// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Handler tests through BPF_PROG_TEST_RUN: each handler in bpf/ handlers is
 * driven with synthetic arguments, through its real raw_tp wrapper where
 * it has one and through a shim_* program where its real hook is fentry
 * or kprobe only, and the resulting map contents are checked exactly.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "khtest.h"
#include "kh.h"
#include "khidle.h"
#include "kvmheat.skel.h"

#define KVM_PTR		0xffff888012345000ULL
#define VM_PID		4242U
#define HVA_BASE	0x7f0000000000ULL
#define DATA_GFN	0x40000ULL

struct fx {
	struct kvmheat_bpf *skel;
	uint32_t self;
};

/* gfn_soft_cap for the next fx_load (0: none, as before any is set). */
static uint64_t fx_soft_cap;

/* Load every raw_tp wrapper and shim (they load without their tracepoint). */
static struct kvmheat_bpf *fx_load(uint32_t targ_pid, bool tdp, uint32_t pf_nargs,
				   uint32_t region_entries)
{
	struct kvmheat_bpf *skel = kvmheat_bpf__open();
	struct bpf_program *prog;
	struct kh_env env = { .tdp = tdp, .page_fault_nargs = pf_nargs,
			      .accessed_mask = 1ULL << 5 };

	if (!skel)
		return NULL;
	bpf_object__for_each_program(prog, skel->obj) {
		const char *n = bpf_program__name(prog);

		bpf_program__set_autoload(prog, !strncmp(n, "raw_tp_", 7) ||
					  !strncmp(n, "shim_", 5));
	}
	kh_set_rodata(&env, skel, targ_pid);
	skel->rodata->gfn_soft_cap = fx_soft_cap;
	if (region_entries)
		bpf_map__set_max_entries(skel->maps.regions, region_entries);
	if (kvmheat_bpf__load(skel)) {
		kvmheat_bpf__destroy(skel);
		return NULL;
	}
	return skel;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	uint32_t pid = VM_PID;
	uint64_t kvm = KVM_PTR;
	struct kh_hva_slot hs = {
		.hva_start = HVA_BASE, .hva_end = HVA_BASE + (64ULL << 20),
		.base_gfn = DATA_GFN, .kvm = KVM_PTR, .pid = VM_PID,
	};
	uint32_t zero = 0;

	if (!kh_is_root()) {
		free(f);
		*state = NULL;
		return 0;
	}
	f->self = getpid();
	f->skel = fx_load(0, true, 3, 0);
	assert_non_null(f->skel);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(f->skel->maps.vm_by_kvm), &kvm, &pid,
					     BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(f->skel->maps.hva_slots), &zero, &hs,
					     BPF_ANY), 0);
	f->skel->bss->nr_hva_slots = 1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f) {
		kvmheat_bpf__destroy(f->skel);
		free(f);
	}
	return 0;
}

#define NEED_FX(f)                                                                 \
	do {                                                                       \
		if (!(f))                                                          \
			KH_SKIP("BPF_PROG_TEST_RUN needs root (CAP_BPF, CAP_PERFMON)"); \
	} while (0)

static void run(struct bpf_program *prog, const uint64_t *args, size_t n)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args, .ctx_size_in = n * sizeof(*args));

	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(prog), &opts), 0);
	assert_int_equal(opts.retval, 0);
}

#define RUN(prog, ...)                                                     \
	do {                                                               \
		uint64_t a_[] = { __VA_ARGS__ };                           \
		run(prog, a_, sizeof(a_) / sizeof(a_[0]));                 \
	} while (0)

/* Counts for (pid, gfn); false if absent. */
static bool gfn_counts(struct kvmheat_bpf *skel, uint32_t pid, uint64_t gfn, struct kh_counts *c)
{
	struct kh_key k = { .pid = pid, .idx = gfn };

	memset(c, 0, sizeof(*c));
	return !bpf_map_lookup_elem(bpf_map__fd(skel->maps.gfns), &k, c);
}

static bool region_of(struct kvmheat_bpf *skel, uint32_t pid, uint64_t gfn, struct kh_region *r)
{
	struct kh_key k = { .pid = pid, .idx = gfn >> KH_REGION_SHIFT };

	memset(r, 0, sizeof(*r));
	return !bpf_map_lookup_elem(bpf_map__fd(skel->maps.regions), &k, r);
}

static size_t map_count(int fd, size_t key_size)
{
	uint8_t key[64], next[64];
	size_t n = 0;

	for (int r = bpf_map_get_next_key(fd, NULL, next); !r;
	     r = bpf_map_get_next_key(fd, key, next)) {
		memcpy(key, next, key_size);
		n++;
	}
	return n;
}

static uint64_t stat_of(struct kvmheat_bpf *skel, enum kh_source src, enum kh_stat st)
{
	int ncpu = libbpf_num_possible_cpus();
	uint32_t idx = src * KH_STAT_MAX + st;
	uint64_t vals[ncpu], sum = 0;

	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(skel->maps.stats), &idx, vals), 0);
	for (int i = 0; i < ncpu; i++)
		sum += vals[i];
	return sum;
}

/* A guest walk: four levels, leaf at level 1, write access. */
static void walk4(struct kvmheat_bpf *skel, uint64_t addr, uint32_t pferr, uint64_t leaf)
{
	RUN(skel->progs.raw_tp_kvm_mmu_pagetable_walk, addr, pferr);
	RUN(skel->progs.raw_tp_kvm_mmu_paging_element, 0x1003ULL, 4);
	RUN(skel->progs.raw_tp_kvm_mmu_paging_element, 0x2003ULL, 3);
	RUN(skel->progs.raw_tp_kvm_mmu_paging_element, 0x3003ULL, 2);
	RUN(skel->progs.raw_tp_kvm_mmu_paging_element, leaf, 1);
}

static void test_walk_write_and_read(void **state)
{
	struct fx *f = *state;
	struct kh_counts c;
	struct kh_region r;
	struct kh_subpages sp;
	struct kh_key k;

	NEED_FX(f);
	/* gva 0x1234abc maps to gfn 0x40123; offset 0xabc is sub-page 21 */
	walk4(f->skel, 0x1234abcULL, KH_PFERR_WRITE | KH_PFERR_PRESENT, 0x40123067ULL);
	walk4(f->skel, 0x1234010ULL, 0, 0x40123067ULL);
	assert_true(gfn_counts(f->skel, f->self, 0x40123, &c));
	assert_int_equal(c.accesses, 2);
	assert_int_equal(c.writes, 1);
	assert_int_equal(c.subpage_mask, 1U << 21);
	k = (struct kh_key){ .pid = f->self, .idx = 0x40123 };
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.subpages), &k, &sp), 0);
	assert_int_equal(sp.cnt[21], 1);
	assert_int_equal(sp.cnt[0], 0);
	assert_true(region_of(f->skel, f->self, 0x40123, &r));
	assert_int_equal(r.c.accesses, 2);
	/* gfn 0x40123 is bit 0x123 = 291 of its region: word 4, bit 35 */
	assert_int_equal(r.touched[4], 1ULL << 35);
	/* only the leaf was counted: no entry for the upper-level tables */
	assert_int_equal(map_count(bpf_map__fd(f->skel->maps.gfns), sizeof(k)), 1);
	assert_int_equal(stat_of(f->skel, KH_SRC_WALK, KH_STAT_COUNTED), 2);
}

static void test_walk_large_page_and_not_present(void **state)
{
	struct fx *f = *state;
	struct kh_counts c;

	NEED_FX(f);
	/* 2 MiB page at level 2: gpa = pde base 0x80000000 | (addr & 0x1fffff) */
	RUN(f->skel->progs.raw_tp_kvm_mmu_pagetable_walk, 0x12345678ULL, 0);
	RUN(f->skel->progs.raw_tp_kvm_mmu_paging_element, 0x1003ULL, 4);
	RUN(f->skel->progs.raw_tp_kvm_mmu_paging_element, 0x2003ULL, 3);
	RUN(f->skel->progs.raw_tp_kvm_mmu_paging_element, 0x80000000ULL | KH_PTE_PS | 3, 2);
	assert_true(gfn_counts(f->skel, f->self, (0x80000000ULL | 0x145678) >> 12, &c));
	assert_int_equal(c.accesses, 1);
	assert_int_equal(c.writes, 0);
	/* a level-1 pte without the present bit: the walk faults, no access */
	walk4(f->skel, 0x5000ULL, KH_PFERR_WRITE, 0x40999066ULL);
	assert_false(gfn_counts(f->skel, f->self, 0x40999, &c));
}

struct thr_arg {
	struct kvmheat_bpf *skel;
};

static void *other_thread_element(void *p)
{
	struct thr_arg *a = p;
	uint64_t args[] = { 0x40777067ULL, 1 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args, .ctx_size_in = sizeof(args));

	bpf_prog_test_run_opts(bpf_program__fd(a->skel->progs.raw_tp_kvm_mmu_paging_element),
			       &opts);
	return NULL;
}

static void test_walk_stash_of_other_thread_is_not_used(void **state)
{
	struct fx *f = *state;
	struct thr_arg a;
	struct kh_counts c;
	pthread_t t;

	NEED_FX(f);
	a.skel = f->skel;
	RUN(f->skel->progs.raw_tp_kvm_mmu_pagetable_walk, 0x777000ULL, KH_PFERR_WRITE);
	/* same CPU (we are pinned), different thread: must count as lost */
	assert_int_equal(pthread_create(&t, NULL, other_thread_element, &a), 0);
	pthread_join(t, NULL);
	assert_false(gfn_counts(f->skel, f->self, 0x40777, &c));
	assert_int_equal(stat_of(f->skel, KH_SRC_WALK, KH_STAT_WALK_LOST), 1);
}

static void test_age_gfn_by_kvm(void **state)
{
	struct fx *f = *state;
	struct kh_counts c;

	NEED_FX(f);
	RUN(f->skel->progs.shim_age_gfn, KVM_PTR, 0x100, 0x102, 1);
	RUN(f->skel->progs.shim_age_gfn, KVM_PTR, 0x101, 0x102, 0);
	assert_true(gfn_counts(f->skel, VM_PID, 0x100, &c));
	assert_int_equal(c.aged, 1);
	assert_int_equal(c.young, 1);
	assert_int_equal(c.accesses, 1);
	assert_int_equal(c.flags, KH_F_YOUNG_KNOWN);
	assert_true(gfn_counts(f->skel, VM_PID, 0x101, &c));
	assert_int_equal(c.aged, 2);
	assert_int_equal(c.young, 1);
	assert_false(gfn_counts(f->skel, VM_PID, 0x102, &c));
	/* a struct kvm nobody discovered: counted as unattributed, no entry */
	RUN(f->skel->progs.shim_age_gfn, 0xffff888000000000ULL, 0x200, 0x201, 1);
	assert_false(gfn_counts(f->skel, 0, 0x200, &c));
	assert_int_equal(stat_of(f->skel, KH_SRC_AGING, KH_STAT_NO_VM), 1);
}

/* SMM's address space 1 aliases guest RAM: KVM ages both, kvmheat counts as0. */
static void test_age_gfn_smm_address_space_not_mixed(void **state)
{
	struct fx *f = *state;
	struct kh_counts c;

	NEED_FX(f);
	RUN(f->skel->progs.shim_age_gfn_as, KVM_PTR, 0x300, 0x302, 1, 1);
	assert_false(gfn_counts(f->skel, VM_PID, 0x300, &c));
	RUN(f->skel->progs.shim_age_gfn_as, KVM_PTR, 0x300, 0x302, 1, 0);
	assert_true(gfn_counts(f->skel, VM_PID, 0x300, &c));
	assert_int_equal(c.aged, 1);
	assert_int_equal(c.young, 1);
}

static void test_age_long_range_is_region_level(void **state)
{
	struct fx *f = *state;
	struct kh_counts c;
	struct kh_region r;

	NEED_FX(f);
	/* 600 pages from gfn 0x3f0 touch regions 1, 2 and 3: one coarse check each */
	RUN(f->skel->progs.shim_age_gfn, KVM_PTR, 0x3f0, 0x3f0 + 600, 1);
	assert_false(gfn_counts(f->skel, VM_PID, 0x3f0, &c));
	assert_false(gfn_counts(f->skel, VM_PID, 0x400, &c));
	for (uint64_t g = 0x3f0; g < 0x3f0 + 600; g += 0x200) {
		assert_true(region_of(f->skel, VM_PID, g, &r));
		assert_int_equal(r.c.aged, 1);
		assert_int_equal(r.c.young, 1);
		assert_int_equal(r.coarse_aged, 1);
		assert_int_equal(r.coarse_young, 1);
		assert_int_equal(r.coarse_pages, 600);
	}
	assert_true(region_of(f->skel, VM_PID, 0x600, &r));
	assert_int_equal(r.c.aged, 1);
	assert_int_equal(stat_of(f->skel, KH_SRC_AGING, KH_STAT_TRUNCATED), 1);
}

/*
 * A THP-backed mapping aged young: KVM hands over 512 aligned gfns.  That is
 * one 2 MiB cell: one young check for the region, no 4 KiB page credited,
 * no touched bit; a later 4 KiB fault in it keeps its own precision.  A
 * 1 GiB page is one cell per region it covers, each saying 1 GiB.
 */
static void test_age_huge_page_is_one_cell(void **state)
{
	struct fx *f = *state;
	struct kh_counts c;
	struct kh_region r;

	NEED_FX(f);
	RUN(f->skel->progs.shim_age_gfn, KVM_PTR, 0x40000, 0x40200, 1);
	RUN(f->skel->progs.shim_age_gfn, KVM_PTR, 0x40000, 0x40200, 0);
	assert_true(region_of(f->skel, VM_PID, 0x40000, &r));
	assert_int_equal(r.c.aged, 2);
	assert_int_equal(r.c.young, 1);
	assert_int_equal(r.c.accesses, 1);
	assert_int_equal(r.coarse_aged, 2);
	assert_int_equal(r.coarse_young, 1);
	assert_int_equal(r.coarse_pages, 512);
	for (unsigned int w = 0; w < KH_REGION_GFNS / 64; w++)
		assert_int_equal(r.touched[w], 0);
	for (uint64_t g = 0x40000; g < 0x40200; g++)
		assert_false(gfn_counts(f->skel, VM_PID, g, &c));
	assert_false(region_of(f->skel, VM_PID, 0x40200, &r));
	/* faults stay at 4 KiB: the region's touched bit and its own gfn entry */
	RUN(f->skel->progs.shim_page_fault, VM_PID, 0x40005000ULL, 0x2);
	assert_true(gfn_counts(f->skel, VM_PID, 0x40005, &c));
	assert_int_equal(c.faults, 1);
	assert_true(region_of(f->skel, VM_PID, 0x40000, &r));
	assert_int_equal(r.touched[0], 1ULL << 5);
	assert_int_equal(r.coarse_aged, 2);
	/* 1 GiB at gfn 0x80000: 512 regions, each one coarse check of 262144 pages */
	RUN(f->skel->progs.shim_age_gfn, KVM_PTR, 0x80000, 0x80000 + 262144, 1);
	assert_true(region_of(f->skel, VM_PID, 0x80000, &r));
	assert_int_equal(r.coarse_young, 1);
	assert_int_equal(r.coarse_pages, 262144);
	assert_true(region_of(f->skel, VM_PID, 0x80000 + 262144 - 1, &r));
	assert_int_equal(r.coarse_aged, 1);
	assert_false(region_of(f->skel, VM_PID, 0x80000 + 262144, &r));
}

/*
 * A full-VM aging sweep in a gfn table smaller than the VM: once the soft
 * cap is reached, pages aged old make no new entries, so they cannot evict
 * the hot pages; entries already there and access signals still count.
 */
static void test_aging_sweep_does_not_evict(void **state)
{
	struct fx *f = *state;
	struct kvmheat_bpf *small;
	struct kh_counts c;
	uint32_t pid = VM_PID;
	uint64_t kvm = KVM_PTR;

	NEED_FX(f);
	fx_soft_cap = 4;
	small = fx_load(0, true, 3, 0);
	fx_soft_cap = 0;
	assert_non_null(small);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(small->maps.vm_by_kvm), &kvm, &pid,
					     BPF_ANY), 0);
	/* four hot pages fill the cap */
	for (uint64_t g = 0; g < 4; g++)
		RUN(small->progs.shim_track_write, VM_PID, (0x40000 + g) << 12, 4, 0);
	/* the sweep: 100 old pages, one at a time */
	for (uint64_t g = 0; g < 100; g++)
		RUN(small->progs.shim_age_gfn, KVM_PTR, 0x40000 + g, 0x40000 + g + 1, 0);
	assert_int_equal(map_count(bpf_map__fd(small->maps.gfns), sizeof(struct kh_key)), 4);
	assert_int_equal(stat_of(small, KH_SRC_AGING, KH_STAT_TRUNCATED), 96);
	assert_true(gfn_counts(small, VM_PID, 0x40002, &c));
	assert_int_equal(c.tracked, 1);
	assert_int_equal(c.aged, 1);
	/* a young result is an access: it still makes its entry */
	RUN(small->progs.shim_age_gfn, KVM_PTR, 0x40050, 0x40051, 1);
	assert_true(gfn_counts(small, VM_PID, 0x40050, &c));
	assert_int_equal(c.young, 1);
	assert_int_equal(small->bss->gfn_inserts, 5);
	kvmheat_bpf__destroy(small);
}

/* Word @i of a VM's idle bits array, read through the syscall (0 when unreadable). */
/* A word with page @d aged (or young) and nothing else: kvmheat.h KH_IDLE_S_* */
#define AGED_AT(d) (KH_IDLE_S_AGED * kh_t_pow3(d))
#define YOUNG_AT(d) (KH_IDLE_S_YOUNG * kh_t_pow3(d))

static uint64_t idle_word(const struct kh_idle_map *m, uint32_t i)
{
	uint64_t w = 0;

	bpf_map_lookup_elem(m->fd, &i, &w);
	return w;
}

/*
 * top/export with a driver: every VM's slots in an array of its own
 * (idle_bits[desc.map], made by session.c as top/export make them), told
 * apart by the descriptor's pid (the same gfns in two VMs land in their
 * own arrays); a VM without descriptors keeps hash entries.
 */
static void test_idle_bits_per_vm(void **state)
{
	struct fx *f = *state;
	struct kvmheat_bpf *sk;
	struct kh_counts c;
	const uint64_t kvm_b = KVM_PTR + 0x1000, kvm_c = KVM_PTR + 0x2000;
	const uint32_t pid_b = VM_PID + 1, pid_c = VM_PID + 2;
	struct kh_idle_slot_desc d[2] = {
		{ .base_gfn = 0x100, .npages = 128, .map = 0, .pid = VM_PID },
		{ .base_gfn = 0x100, .npages = 128, .map = 1, .pid = pid_b },
	};
	struct kh_idle_map ma, mb;
	struct kh_session s = {};
	uint64_t kvm = KVM_PTR;
	uint32_t pid = VM_PID;

	NEED_FX(f);
	sk = kvmheat_bpf__open();
	assert_non_null(sk);
	{
		struct bpf_program *prog;

		bpf_object__for_each_program(prog, sk->obj)
			bpf_program__set_autoload(prog, !strncmp(bpf_program__name(prog), "shim_", 5));
	}
	{
		struct kh_env env = { .tdp = true, .page_fault_nargs = 3, .accessed_mask = 1ULL << 5 };

		kh_set_rodata(&env, sk, 0);
	}
	sk->rodata->idle_bits_on = 1;
	assert_int_equal(kvmheat_bpf__load(sk), 0);
	s.skel = sk;
	s.bits_on = true;	/* idle_bits_on was set before load */
	/* 128 pages, KH_IDLE_PPW a word: 4 words each */
	assert_int_equal(kh_session_bits_map(&s, 0, 4, &ma), 0);
	assert_int_equal(kh_session_bits_map(&s, 1, 4, &mb), 0);
	/* the arrays are not the object's maps: the session's map bytes add them */
	assert_true(ma.bytes >= 4 * sizeof(uint64_t) &&
		    s.bits_bytes == ma.bytes + mb.bytes);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(sk->maps.vm_by_kvm), &kvm, &pid, 0), 0);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(sk->maps.vm_by_kvm), &kvm_b, &pid_b, 0), 0);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(sk->maps.vm_by_kvm), &kvm_c, &pid_c, 0), 0);
	for (uint32_t i = 0; i < 2; i++)
		assert_int_equal(bpf_map_update_elem(bpf_map__fd(sk->maps.idle_slots), &i, &d[i], 0),
				 0);
	sk->bss->nr_idle_slots = 2;
	/* VM A: pages 0x100, 0x101 aged, 0x100 young; VM B: page 0x141 (word 1) aged */
	RUN(sk->progs.shim_age_gfn, KVM_PTR, 0x100, 0x102, 0);
	RUN(sk->progs.shim_age_gfn, KVM_PTR, 0x100, 0x101, 1);
	RUN(sk->progs.shim_age_gfn, kvm_b, 0x141, 0x142, 0);
	/* a young clear after an old one: the state rose, and stayed */
	assert_true(idle_word(&ma, 0) == YOUNG_AT(0) + AGED_AT(1));
	assert_true(ma.words[0] == idle_word(&ma, 0));	/* the same through the mapping */
	for (uint32_t i = 1; i < 4; i++)
		assert_true(idle_word(&ma, i) == 0);
	for (uint32_t i = 0; i < 4; i++)	/* VM B: its page 65 (word 1, digit 25) only */
		assert_true(idle_word(&mb, i) == (i == 1 ? AGED_AT(25) : 0));
	assert_false(gfn_counts(sk, VM_PID, 0x100, &c));
	assert_false(gfn_counts(sk, pid_b, 0x141, &c));
	/* VM C has no descriptor: hash entries, as without bits */
	RUN(sk->progs.shim_age_gfn, kvm_c, 0x100, 0x101, 0);
	assert_true(gfn_counts(sk, pid_c, 0x100, &c));
	assert_int_equal(c.aged, 1);
	/* a freed descriptor (npages 0) takes nothing: VM B falls back to entries */
	d[1].npages = 0;
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(sk->maps.idle_slots),
					     &(uint32_t){ 1 }, &d[1], 0), 0);
	RUN(sk->progs.shim_age_gfn, kvm_b, 0x142, 0x143, 0);
	assert_true(gfn_counts(sk, pid_b, 0x142, &c));
	assert_true(idle_word(&mb, 1) == AGED_AT(25));
	/* VM A's array taken out (descriptor still there): hash entries, never a stale array */
	kh_session_bits_unmap(&s, 0, &ma);
	RUN(sk->progs.shim_age_gfn, KVM_PTR, 0x103, 0x104, 0);
	assert_true(gfn_counts(sk, VM_PID, 0x103, &c));
	kh_session_bits_unmap(&s, 1, &mb);
	assert_true(s.bits_bytes == 0);
	kvmheat_bpf__destroy(sk);
}

static void test_age_hva_tracepoints(void **state)
{
	struct fx *f = *state;
	struct kh_counts c;

	NEED_FX(f);
	/* the real raw_tp wrappers: kvm_age_hva(start, end), kvm_test_age_hva(hva) */
	RUN(f->skel->progs.raw_tp_kvm_age_hva, HVA_BASE + 0x3000, HVA_BASE + 0x5000);
	RUN(f->skel->progs.raw_tp_kvm_test_age_hva, HVA_BASE + 0x4010);
	assert_true(gfn_counts(f->skel, VM_PID, DATA_GFN + 3, &c));
	assert_int_equal(c.aged, 1);
	assert_int_equal(c.young, 0);
	assert_int_equal(c.accesses, 0);
	assert_int_equal(c.flags, KH_F_HVA_AGED);
	assert_true(gfn_counts(f->skel, VM_PID, DATA_GFN + 4, &c));
	assert_int_equal(c.aged, 2);
	assert_false(gfn_counts(f->skel, VM_PID, DATA_GFN + 5, &c));
	/* an HVA outside every memslot */
	RUN(f->skel->progs.raw_tp_kvm_age_hva, 0x1000, 0x2000);
	assert_int_equal(stat_of(f->skel, KH_SRC_AGING, KH_STAT_NO_VM), 1);
}

static void test_tdp_young_after_age_hva(void **state)
{
	struct fx *f = *state;
	uint64_t old = 0x1234567007ULL | (1ULL << 5);
	struct kh_counts c;

	NEED_FX(f);
	RUN(f->skel->progs.raw_tp_kvm_age_hva, HVA_BASE + 0x7000, HVA_BASE + 0x8000);
	/* accessed bit cleared and nothing else: a young result */
	RUN(f->skel->progs.raw_tp_kvm_tdp_mmu_spte_changed, 0, DATA_GFN + 7, 1, old,
	    old & ~(1ULL << 5));
	/* a zap (new spte 0) is not aging */
	RUN(f->skel->progs.raw_tp_kvm_tdp_mmu_spte_changed, 0, DATA_GFN + 7, 1, old, 0);
	assert_true(gfn_counts(f->skel, VM_PID, DATA_GFN + 7, &c));
	assert_int_equal(c.aged, 1);
	assert_int_equal(c.young, 1);
	assert_int_equal(c.accesses, 1);
	assert_int_equal(c.flags, KH_F_HVA_AGED | KH_F_YOUNG_KNOWN);
}

static void test_track_write_subpages(void **state)
{
	struct fx *f = *state;
	struct kh_counts c;

	NEED_FX(f);
	/* 8 bytes at offset 0x7c straddle sub-pages 0 and 1 */
	RUN(f->skel->progs.shim_track_write, VM_PID, (0x40005ULL << 12) | 0x7c, 8, 0);
	/* 8 bytes at 0xffc run past the page: clamped to sub-page 31 */
	RUN(f->skel->progs.shim_track_write, VM_PID, (0x40005ULL << 12) | 0xffc, 8, 0);
	assert_true(gfn_counts(f->skel, VM_PID, 0x40005, &c));
	assert_int_equal(c.tracked, 2);
	assert_int_equal(c.writes, 2);
	assert_int_equal(c.accesses, 2);
	assert_int_equal(c.subpage_mask, 0x3U | 0x80000000U);
}

static void test_spp(void **state)
{
	struct fx *f = *state;
	struct kh_counts c;
	uint64_t n = 0;
	uint32_t pid = VM_PID;

	NEED_FX(f);
	/* tracepoint with gpa: kvm_spp_induced_exit(vcpu, gpa, qualification) */
	RUN(f->skel->progs.raw_tp_kvm_spp_induced_exit, 0, (0x40006ULL << 12) | 0x100, 0);
	assert_true(gfn_counts(f->skel, f->self, 0x40006, &c));
	assert_int_equal(c.spp, 1);
	assert_int_equal(c.subpage_mask, 1U << 2);
	/* handle_spp / kvm_exit give no gpa: per-VM count only */
	RUN(f->skel->progs.shim_spp, VM_PID, ~0ULL);
	RUN(f->skel->progs.shim_spp_exit, VM_PID, 1, 66);
	RUN(f->skel->progs.shim_spp_exit, VM_PID, 1, 48);	/* EPT violation */
	RUN(f->skel->progs.shim_spp_exit, VM_PID, 2, 66);	/* SVM: not SPP */
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.spp_nogpa), &pid, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(stat_of(f->skel, KH_SRC_SPP, KH_STAT_NO_GFN), 2);
}

static void test_page_fault_tdp_and_shadow(void **state)
{
	struct fx *f = *state;
	struct kvmheat_bpf *shadow, *old;
	struct kh_counts c;

	NEED_FX(f);
	RUN(f->skel->progs.raw_tp_kvm_page_fault, 0, (0x40007ULL << 12) | 0x234, 2);
	assert_true(gfn_counts(f->skel, f->self, 0x40007, &c));
	assert_int_equal(c.faults, 1);
	assert_int_equal(c.writes, 1);
	assert_int_equal(c.subpage_mask, 1U << 4);
	/* shadow paging: the address is a gva, nothing per gfn */
	shadow = fx_load(0, false, 3, 0);
	assert_non_null(shadow);
	RUN(shadow->progs.raw_tp_kvm_page_fault, 0, (0x40007ULL << 12), 2);
	assert_false(gfn_counts(shadow, f->self, 0x40007, &c));
	assert_int_equal(stat_of(shadow, KH_SRC_WALK, KH_STAT_NO_GFN), 1);
	kvmheat_bpf__destroy(shadow);
	/* up to 6.0 the tracepoint had no vcpu: (address, error_code) */
	old = fx_load(0, true, 2, 0);
	assert_non_null(old);
	RUN(old->progs.raw_tp_kvm_page_fault, (0x40008ULL << 12), 0);
	assert_true(gfn_counts(old, f->self, 0x40008, &c));
	assert_int_equal(c.faults, 1);
	assert_int_equal(c.writes, 0);
	kvmheat_bpf__destroy(old);
}

static void test_pid_filter(void **state)
{
	struct fx *f = *state;
	struct kvmheat_bpf *filt;
	struct kh_counts c;

	NEED_FX(f);
	filt = fx_load(VM_PID + 1, true, 3, 0);
	assert_non_null(filt);
	RUN(filt->progs.shim_track_write, VM_PID, 0x40005000ULL, 4, 0);
	RUN(filt->progs.shim_track_write, VM_PID + 1, 0x40005000ULL, 4, 0);
	assert_false(gfn_counts(filt, VM_PID, 0x40005, &c));
	assert_true(gfn_counts(filt, VM_PID + 1, 0x40005, &c));
	assert_int_equal(stat_of(filt, KH_SRC_TRACK, KH_STAT_FILTERED), 1);
	kvmheat_bpf__destroy(filt);
}

static void test_full_region_table_is_counted(void **state)
{
	struct fx *f = *state;
	struct kvmheat_bpf *small;
	struct kh_region r;

	NEED_FX(f);
	small = fx_load(0, true, 3, 1);
	assert_non_null(small);
	RUN(small->progs.shim_track_write, VM_PID, 0x40000000ULL, 4, 0);
	RUN(small->progs.shim_track_write, VM_PID, 0x80000000ULL, 4, 0);	/* 2nd region */
	assert_true(region_of(small, VM_PID, 0x40000, &r));
	assert_false(region_of(small, VM_PID, 0x80000, &r));
	assert_int_equal(stat_of(small, KH_SRC_TRACK, KH_STAT_MAP_FULL), 1);
	kvmheat_bpf__destroy(small);
}

/* ---- the event stream ---- */

struct evs {
	struct kh_event e[256];
	int n;
};

static int on_event(void *ctx, void *data, size_t len)
{
	struct evs *v = ctx;

	assert_int_equal(len, sizeof(struct kh_event));
	if (v->n < 256)
		memcpy(&v->e[v->n++], data, sizeof(struct kh_event));
	return 0;
}

static struct kvmheat_bpf *ev_load(void (*cfg)(struct kvmheat_bpf *))
{
	struct kvmheat_bpf *skel = kvmheat_bpf__open();
	struct bpf_program *prog;
	struct kh_env env = { .tdp = true, .page_fault_nargs = 3, .accessed_mask = 1ULL << 5 };

	assert_non_null(skel);
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, !strncmp(bpf_program__name(prog), "raw_tp_", 7) ||
					  !strncmp(bpf_program__name(prog), "shim_", 5));
	kh_set_rodata(&env, skel, 0);
	skel->rodata->events_enabled = true;
	if (cfg)
		cfg(skel);
	assert_int_equal(kvmheat_bpf__load(skel), 0);
	return skel;
}

/* idle bits on (the arrays are made after load) */
static void idle_cfg(struct kvmheat_bpf *skel)
{
	skel->rodata->idle_bits_on = 1;
}

/*
 * kvm_age_gfn clears the accessed bit, kvm_test_age_gfn only reads it:
 * both land in the page's state (userspace weighs a young one by
 * whether a scan of ours cleared the page before), and a bool return is
 * read from %al only.
 */
/*
 * Loaded with idle states on (idle_cfg), VM_PID's one slot @d described
 * and its array of @nwords words made and put in as idle_bits[0]; skips
 * without root.
 */
static struct kvmheat_bpf *idle_one_slot(const struct kh_idle_slot_desc *d, uint64_t nwords,
					 struct kh_session *s, struct kh_idle_map *m)
{
	struct kvmheat_bpf *skel;
	uint64_t kvm = KVM_PTR;
	uint32_t pid = VM_PID, zero = 0;

	if (!kh_is_root())
		KH_SKIP("BPF_PROG_TEST_RUN needs root");
	skel = ev_load(idle_cfg);
	s->skel = skel;
	s->bits_on = true;	/* idle_bits_on was set before load */
	assert_int_equal(kh_session_bits_map(s, 0, nwords, m), 0);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.vm_by_kvm), &kvm, &pid,
					     BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.idle_slots), &zero, d,
					     BPF_ANY), 0);
	skel->bss->nr_idle_slots = 1;
	return skel;
}

static void test_idle_bits_clear_and_test(void **state)
{
	struct kvmheat_bpf *skel;
	struct kh_idle_slot_desc d = { .base_gfn = 0x100, .npages = 64, .pid = VM_PID };
	struct kh_session s = {};
	struct kh_idle_map m;
	struct kh_counts c;

	(void)state;
	skel = idle_one_slot(&d, 2, &s, &m);
	RUN(skel->progs.shim_age_gfn, KVM_PTR, 0x101, 0x102, 1);	/* clear, young */
	RUN(skel->progs.shim_age_gfn, KVM_PTR, 0x104, 0x105, 0);	/* clear, old */
	RUN(skel->progs.shim_test_age_gfn, KVM_PTR, 0x102, 0x103, 1);	/* test, young */
	RUN(skel->progs.shim_test_age_gfn, KVM_PTR, 0x103, 0x104, 0);	/* test, old */
	/* a bool return is %al only: SPTE bits left above it (Debian 6.12.95's
	 * kvm_tdp_mmu_test_age_gfn) are not "young" */
	RUN(skel->progs.shim_test_age_gfn, KVM_PTR, 0x105, 0x106, 0x8b4a00);
	RUN(skel->progs.shim_age_gfn, KVM_PTR, 0x106, 0x107, 0xffff888000000100ULL);
	/* pages 1 and 2 young, 3-6 aged (a bool's %al, not the SPTE bits above it) */
	assert_true(idle_word(&m, 0) == YOUNG_AT(1) + YOUNG_AT(2) + AGED_AT(3) + AGED_AT(4) +
					    AGED_AT(5) + AGED_AT(6));
	for (uint64_t g = 0x101; g < 0x107; g++)	/* none took a hash entry */
		assert_false(gfn_counts(skel, VM_PID, g, &c));
	kh_session_bits_unmap(&s, 0, &m);
	kvmheat_bpf__destroy(skel);
}

/*
 * A huge mapping aged as one, with states: one state per 2 MiB region the
 * range covers inside the slot, none for its pages and no hash entry; a
 * range past KH_IDLE_RANGE_REGIONS (4) regions keeps region entries.
 */
static void test_idle_bits_huge_range(void **state)
{
	struct kvmheat_bpf *skel;
	/* gfns 0x100-0x6ff: regions 0-3, page words 0-38, region word 39 */
	struct kh_idle_slot_desc d = { .base_gfn = 0x100, .npages = 0x600, .pid = VM_PID,
				       .word_off = 0, .region_off = 39 };
	struct kh_session s = {};
	struct kh_idle_map m;
	struct kh_region r;

	(void)state;
	skel = idle_one_slot(&d, 40, &s, &m);
	/* a young 2 MiB page at region 1; an old one starting before the slot (region 0) */
	RUN(skel->progs.shim_age_gfn, KVM_PTR, 0x200, 0x400, 1);
	RUN(skel->progs.shim_age_gfn, KVM_PTR, 0x000, 0x200, 0);
	assert_true(idle_word(&m, 39) == AGED_AT(0) + YOUNG_AT(1));
	for (uint32_t i = 0; i < 39; i++)	/* no page's state */
		assert_true(idle_word(&m, i) == 0);
	assert_false(region_of(skel, VM_PID, 0x200, &r));
	assert_false(region_of(skel, VM_PID, 0x100, &r));
	/* 5 regions (10 MiB): region entries, as without states */
	RUN(skel->progs.shim_age_gfn, KVM_PTR, 0x000, 0xa00, 0);
	assert_true(region_of(skel, VM_PID, 0x200, &r));
	assert_true(r.c.flags & KH_F_RANGE_AGED);
	assert_true(idle_word(&m, 39) == AGED_AT(0) + YOUNG_AT(1));
	kh_session_bits_unmap(&s, 0, &m);
	kvmheat_bpf__destroy(skel);
}

static void drain(struct kvmheat_bpf *skel, struct evs *v)
{
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, v,
						  NULL);

	assert_non_null(rb);
	v->n = 0;
	ring_buffer__consume(rb);
	ring_buffer__free(rb);
}

static void test_events_carry_addresses_not_contents(void **state)
{
	struct kvmheat_bpf *skel;
	struct evs v;

	if (!kh_is_root())
		KH_SKIP("BPF_PROG_TEST_RUN needs root");
	skel = ev_load(NULL);
	walk4(skel, 0x1234abcULL, KH_PFERR_WRITE, 0x40123067ULL);
	RUN(skel->progs.shim_track_write, VM_PID, 0x40005ffcULL, 4, 3);
	RUN(skel->progs.raw_tp_kvm_page_fault, 0, 0x40007234ULL, 0);
	drain(skel, &v);
	assert_int_equal(v.n, 3);
	assert_int_equal(v.e[0].hdr.type, KH_REC_EVENT);
	assert_int_equal(v.e[0].hdr.size, sizeof(struct kh_event));
	assert_int_equal(v.e[0].kind, KH_EV_WRITE);
	assert_int_equal(v.e[0].source, KH_SRC_WALK);
	assert_int_equal(v.e[0].gpa, 0x40123abcULL);
	assert_int_equal(v.e[0].pid, getpid());
	assert_int_equal(v.e[0].vcpu, KH_VCPU_UNKNOWN);
	assert_int_equal(v.e[0].flags, KH_EVF_WRITE);
	assert_int_equal(v.e[1].kind, KH_EV_TRACK);
	assert_int_equal(v.e[1].gpa, 0x40005ffcULL);
	assert_int_equal(v.e[1].bytes, 4);
	assert_int_equal(v.e[1].vcpu, 3);
	assert_int_equal(v.e[1].pid, VM_PID);
	assert_int_equal(v.e[2].kind, KH_EV_FAULT);
	assert_int_equal(v.e[2].flags, 0);
	assert_true(v.e[0].ts_ns <= v.e[1].ts_ns && v.e[1].ts_ns <= v.e[2].ts_ns);
	assert_int_equal(stat_of(skel, KH_SRC_WALK, KH_STAT_EMITTED), 2);
	kvmheat_bpf__destroy(skel);
}

static void cfg_filter(struct kvmheat_bpf *skel)
{
	skel->rodata->ev_gfn_lo = 0x40100;
	skel->rodata->ev_gfn_hi = 0x401ff;
	skel->rodata->ev_writes_only = true;
}

static void test_event_filter_drops_in_kernel(void **state)
{
	struct kvmheat_bpf *skel;
	struct kh_counts c;
	struct evs v;

	if (!kh_is_root())
		KH_SKIP("BPF_PROG_TEST_RUN needs root");
	skel = ev_load(cfg_filter);
	walk4(skel, 0x1234abcULL, KH_PFERR_WRITE, 0x40123067ULL);	/* in range, write */
	walk4(skel, 0x1234abcULL, 0, 0x40123067ULL);			/* in range, read */
	walk4(skel, 0x1234abcULL, KH_PFERR_WRITE, 0x40223067ULL);	/* out of range */
	drain(skel, &v);
	assert_int_equal(v.n, 1);
	assert_int_equal(v.e[0].gpa, 0x40123abcULL);
	assert_int_equal(stat_of(skel, KH_SRC_WALK, KH_STAT_EV_FILTERED), 2);
	/* the filter is on the stream only: aggregation still saw all three */
	assert_true(gfn_counts(skel, getpid(), 0x40123, &c));
	assert_int_equal(c.accesses, 2);
	kvmheat_bpf__destroy(skel);
}

/* --gfn 0 as trace sets it: the filter's own flag, not a 0-0 sentinel, turns it on. */
static void cfg_gfn_zero(struct kvmheat_bpf *skel)
{
	struct kh_session_opts so = { .events = true };

	so.filter.gfn_set = true;
	kh_set_event_rodata(skel, &so);
}

static void cfg_gfn_unset(struct kvmheat_bpf *skel)
{
	struct kh_session_opts so = { .events = true };

	kh_set_event_rodata(skel, &so);
}

static void test_event_filter_gfn_zero(void **state)
{
	struct kvmheat_bpf *skel;
	struct evs v;

	if (!kh_is_root())
		KH_SKIP("BPF_PROG_TEST_RUN needs root");
	skel = ev_load(cfg_gfn_zero);
	walk4(skel, 0x1234abcULL, 0, 0x067ULL);		/* gfn 0 */
	walk4(skel, 0x1234abcULL, 0, 0x1067ULL);	/* gfn 1 */
	drain(skel, &v);
	assert_int_equal(v.n, 1);
	assert_int_equal(v.e[0].gpa, 0xabcULL);
	assert_int_equal(stat_of(skel, KH_SRC_WALK, KH_STAT_EV_FILTERED), 1);
	kvmheat_bpf__destroy(skel);
	/* the same gfn_lo = gfn_hi = 0 without the flag: no range, both come out */
	skel = ev_load(cfg_gfn_unset);
	walk4(skel, 0x1234abcULL, 0, 0x067ULL);
	walk4(skel, 0x1234abcULL, 0, 0x1067ULL);
	drain(skel, &v);
	assert_int_equal(v.n, 2);
	assert_int_equal(stat_of(skel, KH_SRC_WALK, KH_STAT_EV_FILTERED), 0);
	kvmheat_bpf__destroy(skel);
}

static void cfg_no_aggregate(struct kvmheat_bpf *skel)
{
	skel->rodata->aggregate = false;
}

static void test_lost_events_are_counted(void **state)
{
	struct kvmheat_bpf *skel;
	struct kh_counts c;
	struct evs v;
	uint64_t lost;

	if (!kh_is_root())
		KH_SKIP("BPF_PROG_TEST_RUN needs root");
	skel = ev_load(cfg_no_aggregate);
	/* a 4 KiB ring holds 64 records of 56 + 8 header bytes */
	for (int i = 0; i < 100; i++)
		RUN(skel->progs.shim_track_write, VM_PID, 0x40005000ULL + i, 1, 0);
	drain(skel, &v);
	lost = stat_of(skel, KH_SRC_TRACK, KH_STAT_LOST);
	printf("# ring of 4096 bytes: %d delivered, %llu lost\n", v.n, (unsigned long long)lost);
	assert_int_equal(v.n + lost, 100);
	assert_true(lost > 0);
	assert_int_equal(stat_of(skel, KH_SRC_TRACK, KH_STAT_EMITTED), v.n);
	/* aggregate=false: the stream only, no per-gfn state */
	assert_false(gfn_counts(skel, VM_PID, 0x40005, &c));
	kvmheat_bpf__destroy(skel);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_walk_write_and_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk_large_page_and_not_present, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_walk_stash_of_other_thread_is_not_used, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_age_gfn_by_kvm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_bits_per_vm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_age_gfn_smm_address_space_not_mixed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_age_long_range_is_region_level, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_age_huge_page_is_one_cell, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aging_sweep_does_not_evict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_age_hva_tracepoints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tdp_young_after_age_hva, setup, teardown),
		cmocka_unit_test_setup_teardown(test_track_write_subpages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_page_fault_tdp_and_shadow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pid_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_region_table_is_counted, setup,
						teardown),
		cmocka_unit_test(test_events_carry_addresses_not_contents),
		cmocka_unit_test(test_event_filter_drops_in_kernel),
		cmocka_unit_test(test_event_filter_gfn_zero),
		cmocka_unit_test(test_lost_events_are_counted),
		cmocka_unit_test(test_idle_bits_clear_and_test),
		cmocka_unit_test(test_idle_bits_huge_range),
	};
	cpu_set_t cpus;

	/* Per-CPU walk stash: every test-run must happen on one CPU. */
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);
	if (!getenv("KH_TEST_LIBBPF"))
		libbpf_set_print(NULL);
	return cmocka_run_group_tests_name("bpf handlers (BPF_PROG_TEST_RUN)", tests, NULL, NULL);
}
