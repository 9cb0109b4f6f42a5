/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Discovery layer: VMs and memslots through the task_file iterator (vms.c). */
#ifndef KH_VMS_H
#define KH_VMS_H

#include "probe.h"
#include "vmname.h"

/*
 * A memslot, as discovery holds it and recordings store it (docs/FORMAT.md
 * VM records): fixed-width fields, no padding, so one struct serves both.
 */
struct kh_slot {
	uint64_t base_gfn;
	uint64_t npages;
	uint64_t hva;
	uint32_t flags;		/* KVM_MEM_* */
	uint16_t id;
	uint16_t as_id;		/* address space: 1 is SMM on x86 */
};
_Static_assert(sizeof(struct kh_slot) == 32, "kh_slot is the recording's slot layout");

struct kh_vm {
	uint32_t pid;
	uint32_t nr_vcpus;
	uint64_t kvm;
	char comm[17];
	struct kh_vm_ident ident;	/* name and uuid (vmname.c), learned at discovery */
	uint32_t iter_err;		/* KH_ITER_E_* seen for this VM */
	size_t nr_slots, slots_cap;
	struct kh_slot *slots;
};

struct kh_vmset {
	size_t n, cap;
	struct kh_vm *vms;
};

/* A loaded iterator, reused for every rediscovery. */
struct vms_bpf;
struct bpf_link;
struct kh_disc {
	struct vms_bpf *skel;
	struct bpf_link *link;
};

int kh_vms_parse(const void *buf, size_t len, struct kh_vmset *set, char *why, size_t whylen);
int kh_disc_open(struct kh_disc *d, char *why, size_t whylen);
int kh_disc_run(struct kh_disc *d, struct kh_vmset *set, char *why, size_t whylen);
void kh_disc_close(struct kh_disc *d);
/* open + run + close, for one-shot users. */
int kh_vms_discover(struct kh_vmset *set, char *why, size_t whylen);
void kh_vms_free(struct kh_vmset *set);
struct kh_vm *kh_vms_find(struct kh_vmset *set, uint32_t pid);
struct kh_vm *kh_vms_find_kvm(struct kh_vmset *set, uint64_t kvm, uint32_t pid);
int kh_vms_put(struct kh_vmset *set, const struct kh_vm *vm);
uint64_t kh_vm_pages(const struct kh_vm *vm);
/* The one VM of @set named @name: 0 and *pid, -ENOENT or -EEXIST (ambiguous). */
int kh_vms_by_name(const struct kh_vmset *set, const char *name, uint32_t *pid, char *why,
		   size_t whylen);
/* A -p argument: a pid, or the name of one running VM (live discovery). */
int kh_resolve_vm(const char *arg, uint32_t *pid, char *why, size_t whylen);
/* Index of the slot holding @gfn, or -1. */
int kh_vm_slot_of(const struct kh_vm *vm, uint64_t gfn);

#endif /* KH_VMS_H */
