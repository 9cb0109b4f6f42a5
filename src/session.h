/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Session layer: lifecycle of the main BPF object (session.c). */
#ifndef KH_SESSION_H
#define KH_SESSION_H

#include "vms.h"
#include "idle.h"

/* The in-kernel event filter (record --events, trace). */
struct kh_ev_filter {
	uint32_t sources;		/* bitmask of enum kh_source; 0: all */
	bool gfn_set;			/* only gfns gfn_lo..gfn_hi (inclusive) */
	uint64_t gfn_lo, gfn_hi;
	bool writes_only;
	bool vcpu_set;			/* only events of vCPU @vcpu */
	uint32_t vcpu;
};

/* What a command asks of a session; the zero value plus .sources works. */
struct kh_session_opts {
	uint32_t pid;			/* 0: all VMs */
	uint32_t sources;		/* bitmask of enum kh_source */
	uint64_t max_gfns;		/* 0: size from guest memory */
	uint64_t max_regions, max_subpages;	/* the same */
	enum kh_method force[KH_SRC_MAX];	/* KH_M_AUTO (zero): not forced */
	bool events;			/* stream events through the ring buffer */
	uint32_t ringbuf_bytes;		/* 0: default (4 MiB) */
	uint32_t wakeup_bytes;		/* reader woken at this much unread; 0: per event */
	bool no_aggregate;		/* events only: skip per-gfn maps */
	struct kh_ev_filter filter;
	bool pid_pending;		/* @pid need not be a VM yet (record -- CMD) */
	bool follow;			/* @pid and every process it starts (-- CMD) */
	uint64_t expect_pages;		/* size maps for this much memory; 0: from VMs */
	bool idle_bits;			/* idle, top/export with a driver: VMs get idle bits */
};
#define KH_ALL_SOURCES	((1U << KH_SRC_MAX) - 1)

struct kvmheat_bpf;
/* The event stream's settings and in-kernel filter into @skel before load. */
void kh_set_event_rodata(struct kvmheat_bpf *skel, const struct kh_session_opts *so);

struct kh_session {
	struct kvmheat_bpf *skel;
	struct kh_probe probe;
	struct kh_vmset vms;
	struct kh_disc disc;
	struct kh_session_opts opts;
	uint64_t gfn_entries, region_entries, subpage_entries;
	size_t nr_hva_slots;
	bool bits_on;			/* opts.idle_bits and the kernel can hold them */
	uint64_t bits_bytes;		/* the VMs' idle bits arrays (kh_session_bits_map) */
};

/*
 * A VM's idle bits (when bits_on): an mmapped array of @nwords words
 * created for it and put in idle_bits[@i] (kvmheat.h), into *m; -errno
 * and *m empty when the kernel refuses.  Unmap takes it out of idle_bits
 * first, so BPF stops writing, then unmaps and closes it.
 */
int kh_session_bits_map(struct kh_session *s, uint32_t i, uint64_t nwords, struct kh_idle_map *m);
/* Whether this kernel makes arrays of any size for one array of maps (BPF_F_INNER_MAP, 5.10). */
bool kh_session_bits_supported(void);
void kh_session_bits_unmap(struct kh_session *s, uint32_t i, struct kh_idle_map *m);

/* Map sizes for @pages of tracked guest memory (see README "Maps"). */
void kh_map_sizes(uint64_t pages, uint64_t max_gfns, uint64_t *gfn_entries,
		  uint64_t *region_entries, uint64_t *subpage_entries);
/* 0 or -errno with the reason in @why; kh_session_close() is safe either way. */
int kh_session_open(struct kh_session *s, const struct kh_session_opts *so,
		    const struct kh_opts *o, char *why, size_t len);
int kh_session_attach(struct kh_session *s, char *why, size_t len);
int kh_session_refresh(struct kh_session *s, char *why, size_t len);
void kh_session_close(struct kh_session *s);
int kh_read_stats(struct kh_session *s, uint64_t out[KH_NR_STATS]);
/* With opts.follow: is @pid the command or one of its descendants? */
bool kh_session_followed(struct kh_session *s, uint32_t pid);
/* Descendants that could not be followed (the tgid table was full). */
uint64_t kh_session_follow_lost(struct kh_session *s);
int kh_read_stat(struct kh_session *s, uint32_t idx, uint64_t *out);
uint64_t kh_fd_memlock(int fd);
uint64_t kh_session_map_bytes(struct kh_session *s);
void kh_session_cost(struct kh_session *s, uint64_t *runs, uint64_t *ns, bool *enabled);

#endif /* KH_SESSION_H */
