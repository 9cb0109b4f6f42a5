// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* VM discovery: run the task_file iterator, parse its typed records. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>
#include "kh.h"
#include "vms.skel.h"

void kh_vms_free(struct kh_vmset *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->vms[i].slots);
	free(set->vms);
	set->vms = NULL;
	set->n = 0;
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

	if (dst) {
		free(dst->slots);
	} else {
		struct kh_vm *nv = realloc(set->vms, (set->n + 1) * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		set->vms = nv;
		dst = &set->vms[set->n++];
	}
	*dst = *vm;
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
			struct kh_vm *nv;

			if (h.size < sizeof(r))
				goto short_rec;
			memcpy(&r, p + off, sizeof(r));
			if (kh_vms_by_kvm(set, r.kvm))
				break;
			nv = realloc(set->vms, (set->n + 1) * sizeof(*nv));
			if (!nv) {
				snprintf(why, whylen, "out of memory");
				return -ENOMEM;
			}
			set->vms = nv;
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
			struct kh_slot *ns;

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
			ns = realloc(vm->slots, (vm->nr_slots + 1) * sizeof(*ns));
			if (!ns) {
				snprintf(why, whylen, "out of memory");
				return -ENOMEM;
			}
			vm->slots = ns;
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

/* ---- kvmheat list ---- */

static json_t *kh_vm_json(const struct kh_vm *vm)
{
	json_t *slots = json_array();

	for (size_t i = 0; i < vm->nr_slots; i++) {
		const struct kh_slot *s = &vm->slots[i];

		json_array_append_new(slots, json_pack(
			"{s:i, s:i, s:I, s:I, s:I, s:I, s:I}", "slot", s->id, "as_id", s->as_id,
			"gpa", (json_int_t)(s->base_gfn << KH_PAGE_SHIFT),
			"size", (json_int_t)(s->npages << KH_PAGE_SHIFT),
			"base_gfn", (json_int_t)s->base_gfn, "npages", (json_int_t)s->npages,
			"hva", (json_int_t)s->hva));
	}
	return json_pack("{s:i, s:s, s:s, s:o, s:s, s:i, s:I, s:o}", "pid", vm->pid,
			 "comm", vm->comm, "name", vm->ident.name,
			 "uuid", vm->ident.uuid[0] ? json_string(vm->ident.uuid) : json_null(),
			 "name_source", kh_name_source_str(vm->ident.source),
			 "vcpus", vm->nr_vcpus, "memory_bytes",
			 (json_int_t)(kh_vm_pages(vm) << KH_PAGE_SHIFT), "memslots", slots);
}

static void kh_vm_print(const struct kh_vm *vm)
{
	char b1[32];

	printf("%-8u %-16s %-20s %5u %10s %6zu  %s\n", vm->pid, vm->comm, vm->ident.name,
	       vm->nr_vcpus, kh_fmt_bytes(kh_vm_pages(vm) << KH_PAGE_SHIFT, b1, sizeof(b1)),
	       vm->nr_slots, vm->ident.uuid[0] ? vm->ident.uuid : "-");
	for (size_t i = 0; i < vm->nr_slots; i++) {
		const struct kh_slot *s = &vm->slots[i];
		char b2[32];

		printf("    slot %-4u as %u  gpa 0x%012" PRIx64 "-0x%012" PRIx64 "  %10s  hva 0x%" PRIx64
		       "\n", s->id, s->as_id, s->base_gfn << KH_PAGE_SHIFT,
		       (s->base_gfn + s->npages) << KH_PAGE_SHIFT,
		       kh_fmt_bytes(s->npages << KH_PAGE_SHIFT, b2, sizeof(b2)), s->hva);
	}
}

int kh_cmd_list(int argc, char **argv, struct kh_opts *o)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		KH_LONGOPTS_END,
	};
	struct kh_vmset set;
	uint32_t pid = 0;
	struct kh_cmdline cl = {
		.cmd = "list", .o = o, .shortopts = "jp:vh", .longopts = longopts, .pid = &pid,
		.help = "Usage: kvmheat list [-j] [-p PID|NAME]\n"
			"List running KVM VMs: pid, comm, name, vCPUs, memory, memslots, uuid.\n"
			"Names come from libvirt, else QEMU's -name/-uuid, else the comm\n"
			"(JSON name_source: libvirt, cmdline or comm).\n",
	};
	char why[256];
	int err;

	/* no letters of its own: parsed to the end, or stopped */
	if (kh_getopt(&cl, argc, argv) == KH_OPT_STOP)
		return cl.rc;
	kh_libbpf_quiet(o->verbose);
	err = kh_vms_discover(&set, why, sizeof(why));
	if (err)
		return kh_err(o, err == -EPERM ? KH_EXIT_ENV : KH_EXIT_ERROR, "list: %s%s", why,
			      err == -EPERM ? " (needs root or CAP_BPF+CAP_PERFMON)" : "");
	if (pid && !kh_vms_find(&set, pid)) {
		kh_vms_free(&set);
		return kh_err(o, KH_EXIT_NO_VM, "list: pid %u is not a KVM VM (no kvm-vm file)",
			      pid);
	}
	if (!set.n && !o->json)
		fprintf(stderr, "kvmheat: no KVM VMs are running\n");
	if (o->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < set.n; i++)
			if (!pid || set.vms[i].pid == pid)
				json_array_append_new(arr, kh_vm_json(&set.vms[i]));
		kh_json_print(json_pack("{s:o}", "vms", arr), JSON_INDENT(2));
	} else {
		printf("%-8s %-16s %-20s %5s %10s %6s  %s\n", "PID", "COMM", "NAME", "VCPUS",
		       "MEMORY", "SLOTS", "UUID");
		for (size_t i = 0; i < set.n; i++)
			if (!pid || set.vms[i].pid == pid)
				kh_vm_print(&set.vms[i]);
	}
	kh_vms_free(&set);
	return KH_EXIT_OK;
}
