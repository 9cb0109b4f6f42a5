/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Maps and the one accounting path every handler goes through.  The hot
 * path is: one LRU-hash lookup for the gfn, one hash lookup for its 2 MiB
 * region, and for writes one more for sub-page counts.
 */
#ifndef KVMHEAT_COMMON_BPF_H
#define KVMHEAT_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "kvmheat.h"

/* Sizes are placeholders: userspace sets them from tracked guest memory. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct kh_key);
	__type(value, struct kh_counts);
} gfns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct kh_key);
	__type(value, struct kh_region);
} regions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct kh_key);
	__type(value, struct kh_subpages);
} subpages SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KH_NR_STATS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* struct kvm * -> VMM tgid, filled by userspace from discovery. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u32);
} vm_by_kvm SEC(".maps");

/* Memslot HVA ranges, filled by userspace; nr_hva_slots are valid. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KH_MAX_HVA_SLOTS);
	__type(key, __u32);
	__type(value, struct kh_hva_slot);
} hva_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kh_walk_state);
} walk_state SEC(".maps");

/* Per-event stream for record --events and trace; 4 KiB when unused. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

/*
 * `record -- COMMAND` follows COMMAND's descendants, as perf does: the
 * tgids whose VMs count.  Userspace seeds COMMAND's pid before releasing
 * it; the sched_process_fork program adds every new process of a tgid in
 * here, before the child first runs.  Entries stay after exit, so counts of
 * a VM that exited are still attributed when the last snapshot is read.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);		/* userspace sizes it when following */
	__type(key, __u32);
	__type(value, __u8);
} follow_tgids SEC(".maps");

/* Set before load. */
const volatile __u32 targ_pid = 0;		/* 0: every VM */
const volatile bool targ_follow = false;	/* filter by follow_tgids instead */
const volatile bool aggregate = true;		/* per-gfn maps */
const volatile bool events_enabled = false;	/* ring buffer stream */
/* In-kernel event filter, so that uninteresting events never reach userspace. */
const volatile __u32 ev_sources = ~0U;		/* bit per enum kh_source */
const volatile __u64 ev_gfn_lo = 0;
const volatile __u64 ev_gfn_hi = ~0ULL;		/* inclusive */
const volatile bool ev_writes_only = false;
const volatile __u32 ev_vcpu = KH_VCPU_UNKNOWN;	/* only this vcpu_id; ~0: all */
/*
 * Wake the reader only once this much is waiting (0: for every event).  A
 * wakeup is an irq_work per event while the reader keeps up, which costs
 * more than the rest of the handler; a reader that sets this polls with
 * a timeout to collect what is below the threshold.
 */
const volatile __u32 ev_wakeup_bytes = 0;
const volatile __u64 tdp_accessed_mask = 1ULL << 5;	/* see probe.c */
const volatile bool fault_addr_is_gpa = true;	/* false under shadow paging */
const volatile __u32 page_fault_nargs = 3;	/* kvm_page_fault arity */
/*
 * Aging checks that found a gfn old create no per-gfn entry once this many
 * entries were made (0: no limit).  A sweep ages every resident page of a
 * VM; in a table smaller than the VM its cold pages would evict the hot
 * ones (LRU cannot tell a scan from use).  Userspace sets 7/8 of gfns'
 * size.  Existing entries are still updated, regions always are.
 */
const volatile __u64 gfn_soft_cap = 0;
/* A zero block to initialise map values with (largest value type). */
const volatile struct kh_region kh_zero = {};

/* Written by userspace while running. */
__u32 nr_hva_slots = 0;
/* Per-gfn entries made (never decremented: evictions are not seen). */
__u64 gfn_inserts = 0;
/* Descendants not followed because follow_tgids was full (userspace warns). */
__u64 follow_full = 0;

static __always_inline void kh_stat(__u32 src, __u32 stat)
{
	__u32 idx = src * KH_STAT_MAX + stat;
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		(*v)++;
}

static __always_inline bool kh_pid_wanted(__u32 src, __u32 pid)
{
	if (targ_follow) {
		if (bpf_map_lookup_elem(&follow_tgids, &pid))
			return true;
		kh_stat(src, KH_STAT_FILTERED);
		return false;
	}
	if (targ_pid && pid != targ_pid) {
		kh_stat(src, KH_STAT_FILTERED);
		return false;
	}
	return true;
}

static __always_inline void *kh_get(void *map, struct kh_key *key, __u32 src)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	/* Racing inserts are fine: NOEXIST loses, the lookup finds the winner. */
	if (!bpf_map_update_elem(map, key, (const void *)&kh_zero, BPF_NOEXIST) &&
	    map == (void *)&gfns)
		__sync_fetch_and_add(&gfn_inserts, 1);
	v = bpf_map_lookup_elem(map, key);
	if (!v)
		kh_stat(src, KH_STAT_MAP_FULL);
	return v;
}

/* May an old aging result make a new per-gfn entry (see gfn_soft_cap)? */
static __always_inline bool kh_gfn_room(void)
{
	return !gfn_soft_cap || gfn_inserts < gfn_soft_cap;
}

static __always_inline void kh_add(struct kh_counts *c, const struct kh_counts *d)
{
	if (d->accesses)
		__sync_fetch_and_add(&c->accesses, d->accesses);
	if (d->writes)
		__sync_fetch_and_add(&c->writes, d->writes);
	if (d->faults)
		__sync_fetch_and_add(&c->faults, d->faults);
	if (d->aged)
		__sync_fetch_and_add(&c->aged, d->aged);
	if (d->young)
		__sync_fetch_and_add(&c->young, d->young);
	if (d->tracked)
		__sync_fetch_and_add(&c->tracked, d->tracked);
	if (d->spp)
		__sync_fetch_and_add(&c->spp, d->spp);
	/*
	 * Plain read-test-write instead of an atomic OR (which needs BPF v3,
	 * kernel 5.12): a bit lost to a race is set again by the next write.
	 */
	if ((c->subpage_mask & d->subpage_mask) != d->subpage_mask)
		c->subpage_mask |= d->subpage_mask;
	if ((c->flags & d->flags) != d->flags)
		c->flags |= d->flags;
}

/*
 * Account one event for (pid, gfn).  @subpage is the 128-byte sub-page a
 * write touched, or -1.  @gfn_level false updates only the region, for
 * long ranges where per-gfn entries would flood the LRU.
 */
static __always_inline void kh_account(__u32 src, __u32 pid, __u64 gfn,
				       const struct kh_counts *d, int subpage,
				       bool gfn_level)
{
	struct kh_key key = { .pid = pid, .idx = gfn };
	struct kh_counts *c;
	struct kh_region *r;

	if (!aggregate)
		return;
	if (gfn_level) {
		/* an old aging result only updates a gfn already there, once the table fills */
		if (!d->accesses && d->aged && !kh_gfn_room()) {
			c = bpf_map_lookup_elem(&gfns, &key);
			if (!c)
				kh_stat(src, KH_STAT_TRUNCATED);
		} else {
			c = kh_get(&gfns, &key, src);
		}
		if (c)
			kh_add(c, d);
	}

	key.idx = gfn >> KH_REGION_SHIFT;
	r = kh_get(&regions, &key, src);
	if (r) {
		kh_add(&r->c, d);
		if (d->accesses) {
			__u32 bit = gfn & (KH_REGION_GFNS - 1);
			__u64 m = 1ULL << (bit & 63);
			__u64 *w = &r->touched[(bit >> 6) & (KH_REGION_GFNS / 64 - 1)];

			if (!(*w & m))
				*w |= m;
		}
	}

	if (subpage >= 0 && gfn_level) {
		struct kh_subpages *s;

		key.idx = gfn;
		s = kh_get(&subpages, &key, src);
		if (s)
			__sync_fetch_and_add(&s->cnt[subpage & (KH_SUBPAGES - 1)], 1);
	}
	kh_stat(src, KH_STAT_COUNTED);
}

/*
 * Put one event on the ring buffer if the in-kernel filter wants it.
 * @write: whether the event is a write (for ev_writes_only).
 */
static __always_inline void kh_emit(__u32 src, __u32 kind, __u32 pid, __u64 gpa, __u32 bytes,
				    __u32 vcpu, bool write)
{
	struct kh_event *e;

	if (!events_enabled)
		return;
	if (!(ev_sources & (1U << src)) || (ev_writes_only && !write) ||
	    (ev_vcpu != KH_VCPU_UNKNOWN && vcpu != ev_vcpu) ||
	    ((ev_gfn_lo || ev_gfn_hi != ~0ULL) &&
	     (gpa == KH_GPA_UNKNOWN || (gpa >> KH_PAGE_SHIFT) < ev_gfn_lo ||
	      (gpa >> KH_PAGE_SHIFT) > ev_gfn_hi))) {
		kh_stat(src, KH_STAT_EV_FILTERED);
		return;
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		kh_stat(src, KH_STAT_LOST);
		return;
	}
	e->hdr.type = KH_REC_EVENT;
	e->hdr.size = sizeof(*e);
	e->hdr._pad = 0;
	e->ts_ns = bpf_ktime_get_ns();
	e->gpa = gpa;
	e->_reserved = 0;
	e->pid = pid;
	e->tid = (__u32)bpf_get_current_pid_tgid();
	e->vcpu = vcpu;
	e->bytes = bytes;
	e->source = src;
	e->kind = kind;
	e->flags = write ? KH_EVF_WRITE : 0;
	/*
	 * A wakeup per event costs the reader more than the event: batch them.
	 * The default only wakes a reader that has caught up, so past the mark
	 * the wakeup must be forced.
	 */
	if (!ev_wakeup_bytes)
		bpf_ringbuf_submit(e, 0);
	else if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) < ev_wakeup_bytes)
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	else
		bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	kh_stat(src, KH_STAT_EMITTED);
}

static __always_inline __u32 kh_current_tgid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

/* VM of a struct kvm *, as learned by discovery; 0 if not (yet) known. */
static __always_inline __u32 kh_pid_of_kvm(__u64 kvm)
{
	__u32 *pid = bpf_map_lookup_elem(&vm_by_kvm, &kvm);

	return pid ? *pid : 0;
}

static __always_inline int kh_subpage_of(__u64 gpa)
{
	return (gpa & (KH_PAGE_SIZE - 1)) >> KH_SUBPAGE_SHIFT;
}

/* Sub-pages [first, last] covered by a write of @bytes at @gpa. */
static __always_inline __u32 kh_subpage_mask(__u64 gpa, __u32 bytes)
{
	__u32 off = gpa & (KH_PAGE_SIZE - 1);
	__u32 first = off >> KH_SUBPAGE_SHIFT;
	__u32 last = (off + (bytes ? bytes : 1) - 1) >> KH_SUBPAGE_SHIFT;

	if (last > KH_SUBPAGES - 1)
		last = KH_SUBPAGES - 1;
	return (__u32)(((2ULL << last) - 1) & ~((1ULL << first) - 1));
}

/*
 * A vCPU's vcpu_id, or KH_VCPU_UNKNOWN without one (test runs, pre-6.1
 * kvm_page_fault).  Read with CO-RE for every method: a pointer from
 * tp_btf may be NULL to the verifier since "bpf: Augment raw_tp arguments
 * with PTR_MAYBE_NULL" (6.13, in 6.12.y), kprobes and raw_tp get untrusted
 * ones, so one checked read serves all.
 */
static __always_inline __u32 kh_vcpu_id(struct kvm_vcpu *vcpu)
{
	return vcpu ? BPF_CORE_READ(vcpu, vcpu_id) : KH_VCPU_UNKNOWN;
}

#endif /* KVMHEAT_COMMON_BPF_H */
