// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* VM discovery: run the task_file iterator, parse its typed records. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "vms.h"
#include "vms.skel.h"

void kh_vms_free(struct kh_vmset *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->vms[i].slots);
	free(set->vms);
	set->vms = NULL;
	set->n = set->cap = 0;
}

static struct kh_vm *kh_vms_by_kvm(struct kh_vmset *set, uint64_t kvm)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->vms[i].kvm == kvm)
			return &set->vms[i];
	return NULL;
}

struct kh_vm *kh_vms_find(struct kh_vmset *set, uint32_t pid)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->vms[i].pid == pid)
			return &set->vms[i];
	return NULL;
}

/* One VM instance: a VMM can close its VM and open another under the same pid. */
struct kh_vm *kh_vms_find_kvm(struct kh_vmset *set, uint64_t kvm, uint32_t pid)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->vms[i].kvm == kvm && set->vms[i].pid == pid)
			return &set->vms[i];
	return NULL;
}

/* Store a copy of @vm in @set, replacing the entry of the same VM instance. */
int kh_vms_put(struct kh_vmset *set, const struct kh_vm *vm)
{
	struct kh_vm *dst = kh_vms_find_kvm(set, vm->kvm, vm->pid);
	struct kh_vm_ident keep = {};

	if (dst) {
		/*
		 * A VMM that is exiting has no mm left, so /proc/PID/cmdline reads
		 * empty and the name falls back to the comm: never let a worse
		 * source replace a better one for the same VM instance.
		 */
		if (dst->ident.source > vm->ident.source)
			keep = dst->ident;
		free(dst->slots);
	} else {
		if (kh_grow(&set->vms, &set->cap, set->n + 1, sizeof(*set->vms)))
			return -ENOMEM;
		dst = &set->vms[set->n++];
	}
	*dst = *vm;
	if (keep.source)
		dst->ident = keep;
	dst->slots_cap = vm->nr_slots ? vm->nr_slots : 1;
	dst->slots = malloc((vm->nr_slots ? vm->nr_slots : 1) * sizeof(*dst->slots));
	if (!dst->slots) {
		dst->nr_slots = 0;
		return -ENOMEM;
	}
	if (vm->nr_slots)
		memcpy(dst->slots, vm->slots, vm->nr_slots * sizeof(*dst->slots));
	return 0;
}

uint64_t kh_vm_pages(const struct kh_vm *vm)
{
	uint64_t n = 0;

	for (size_t i = 0; i < vm->nr_slots; i++)
		if (vm->slots[i].as_id == 0)
			n += vm->slots[i].npages;
	return n;
}

int kh_vm_slot_of(const struct kh_vm *vm, uint64_t gfn)
{
	for (size_t i = 0; i < vm->nr_slots; i++) {
		const struct kh_slot *s = &vm->slots[i];

		if (s->as_id == 0 && gfn >= s->base_gfn && gfn < s->base_gfn + s->npages)
			return (int)i;
	}
	return -1;
}

static int kh_slot_cmp(const void *a, const void *b)
{
	const struct kh_slot *x = a, *y = b;

	if (x->as_id != y->as_id)
		return x->as_id < y->as_id ? -1 : 1;
	return x->base_gfn < y->base_gfn ? -1 : x->base_gfn > y->base_gfn;
}

/*
 * Parse iterator output.  Records are {type, size, ...}: unknown types are
 * skipped by size, a short or zero-sized record ends parsing with -EBADMSG.
 * A VM that holds several kvm-vm fds (dup) is reported once, by struct kvm.
 */
int kh_vms_parse(const void *buf, size_t len, struct kh_vmset *set, char *why, size_t whylen)
{
	const uint8_t *p = buf;
	struct kh_rec_hdr h;
	size_t off = 0;

	while (off < len) {
		struct kh_vm *vm;

		if (len - off < sizeof(h)) {
			snprintf(why, whylen, "truncated record header at byte %zu", off);
			return -EBADMSG;
		}
		memcpy(&h, p + off, sizeof(h));
		if (h.size < sizeof(h) || h.size > len - off) {
			snprintf(why, whylen, "bad record size %u at byte %zu", h.size, off);
			return -EBADMSG;
		}
		switch (h.type) {
		case KH_REC_VM: {
			struct kh_vm_rec r;

			if (h.size < sizeof(r))
				goto short_rec;
			memcpy(&r, p + off, sizeof(r));
			if (kh_vms_by_kvm(set, r.kvm))
				break;
			if (kh_grow(&set->vms, &set->cap, set->n + 1, sizeof(*set->vms))) {
				snprintf(why, whylen, "out of memory");
				return -ENOMEM;
			}
			vm = &set->vms[set->n++];
			memset(vm, 0, sizeof(*vm));
			vm->pid = r.pid;
			vm->kvm = r.kvm;
			vm->nr_vcpus = r.nr_vcpus;
			memcpy(vm->comm, r.comm, sizeof(r.comm));
			vm->comm[16] = 0;
			break;
		}
		case KH_REC_SLOT: {
			struct kh_slot_rec r;

			if (h.size < sizeof(r))
				goto short_rec;
			memcpy(&r, p + off, sizeof(r));
			vm = kh_vms_by_kvm(set, r.kvm);
			if (!vm)
				break;	/* no VM record for it: nothing to attach it to */
			/* a second fd on the same VM repeats its slots */
			for (size_t i = 0; i < vm->nr_slots; i++)
				if (vm->slots[i].id == r.id && vm->slots[i].as_id == r.as_id)
					goto next;
			if (kh_grow(&vm->slots, &vm->slots_cap, vm->nr_slots + 1,
				    sizeof(*vm->slots))) {
				snprintf(why, whylen, "out of memory");
				return -ENOMEM;
			}
			vm->slots[vm->nr_slots++] = (struct kh_slot){
				.base_gfn = r.base_gfn, .npages = r.npages, .hva = r.hva,
				.flags = r.flags, .id = r.id, .as_id = r.as_id,
			};
			break;
		}
		case KH_REC_ITER_ERR: {
			struct kh_iter_err_rec r;

			if (h.size < sizeof(r))
				goto short_rec;
			memcpy(&r, p + off, sizeof(r));
			vm = kh_vms_by_kvm(set, r.kvm);
			if (vm)
				vm->iter_err = r.code;
			break;
		}
		default:
			break;	/* newer record type: skip by size */
		}
next:
		off += h.size;
	}
	for (size_t i = 0; i < set->n; i++)
		if (set->vms[i].nr_slots > 1)
			qsort(set->vms[i].slots, set->vms[i].nr_slots, sizeof(struct kh_slot),
			      kh_slot_cmp);
	return 0;

short_rec:
	snprintf(why, whylen, "record type %u too short (%u bytes at byte %zu)",
		 h.type, h.size, off);
	return -EBADMSG;
}

int kh_disc_open(struct kh_disc *d, char *why, size_t whylen)
{
	struct bpf_program *prog;
	char eb[128];
	int err;

	memset(d, 0, sizeof(*d));
	d->skel = vms_bpf__open();
	if (!d->skel) {
		err = -errno;
		snprintf(why, whylen, "opening the VM iterator: %s", kh_errstr(err, eb, sizeof(eb)));
		return err;
	}
	/* The memslot layout decides which of the two walkers can load. */
	prog = kh_memslots_tree() ? d->skel->progs.kh_vms_tree : d->skel->progs.kh_vms_array;
	bpf_program__set_autoload(d->skel->progs.kh_vms_tree, prog == d->skel->progs.kh_vms_tree);
	bpf_program__set_autoload(d->skel->progs.kh_vms_array,
				  prog == d->skel->progs.kh_vms_array);
	err = vms_bpf__load(d->skel);
	if (err) {
		snprintf(why, whylen, "loading the VM iterator failed: %s",
			 kh_errstr(err, eb, sizeof(eb)));
		goto fail;
	}
	d->link = bpf_program__attach_iter(prog, NULL);
	if (!d->link) {
		err = -errno;
		snprintf(why, whylen, "attaching the VM iterator failed: %s",
			 kh_errstr(err, eb, sizeof(eb)));
		goto fail;
	}
	return 0;
fail:
	kh_disc_close(d);
	return err;
}

void kh_disc_close(struct kh_disc *d)
{
	bpf_link__destroy(d->link);
	vms_bpf__destroy(d->skel);
	d->link = NULL;
	d->skel = NULL;
}

int kh_disc_run(struct kh_disc *d, struct kh_vmset *set, char *why, size_t whylen)
{
	char eb[128], *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, err = 0;

	memset(set, 0, sizeof(*set));
	fd = bpf_iter_create(bpf_link__fd(d->link));
	if (fd < 0) {
		err = -errno;
		snprintf(why, whylen, "bpf_iter_create: %s", kh_errstr(err, eb, sizeof(eb)));
		return err;
	}
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			char *nb = realloc(buf, cap ? cap * 2 : 65536);

			if (!nb) {
				err = -ENOMEM;
				snprintf(why, whylen, "out of memory");
				goto out;
			}
			buf = nb;
			cap = cap ? cap * 2 : 65536;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			snprintf(why, whylen, "reading the VM iterator: %s",
				 kh_errstr(err, eb, sizeof(eb)));
			goto out;
		}
		if (n == 0)
			break;
		len += n;
	}
	err = kh_vms_parse(buf, len, set, why, whylen);
	for (size_t i = 0; !err && i < set->n; i++)
		kh_ident_learn(set->vms[i].pid, set->vms[i].comm, &set->vms[i].ident);
out:
	if (err)
		kh_vms_free(set);
	close(fd);
	free(buf);
	return err;
}

int kh_vms_discover(struct kh_vmset *set, char *why, size_t whylen)
{
	struct kh_disc d;
	int err;

	memset(set, 0, sizeof(*set));
	err = kh_disc_open(&d, why, whylen);
	if (err)
		return err;
	err = kh_disc_run(&d, set, why, whylen);
	kh_disc_close(&d);
	return err;
}

/* ---- VMs by name (vmname.c has the rule, this the VM lists) ---- */

int kh_vms_by_name(const struct kh_vmset *set, const char *name, uint32_t *pid, char *why,
		   size_t whylen)
{
	struct kh_named *v = calloc(set->n ? set->n : 1, sizeof(*v));
	int err;

	if (!v) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < set->n; i++)
		v[i] = (struct kh_named){ set->vms[i].pid, &set->vms[i].ident };
	err = kh_pick_by_name(v, set->n, name, pid, why, whylen);
	free(v);
	return err;
}

int kh_resolve_vm(const char *arg, uint32_t *pid, char *why, size_t whylen)
{
	struct kh_vmset set;
	int err;

	if (!kh_parse_pid(arg, pid))
		return 0;
	if (!kh_name_arg_ok(arg)) {
		snprintf(why, whylen, "bad pid or VM name");
		return -EINVAL;
	}
	err = kh_vms_discover(&set, why, whylen);
	if (err)
		return err;
	err = kh_vms_by_name(&set, arg, pid, why, whylen);
	kh_vms_free(&set);
	return err;
}
