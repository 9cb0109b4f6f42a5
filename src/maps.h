/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Map-reader layer: whole reads, per-interval drains, histogram printers (maps.c). */
#ifndef KH_MAPS_H
#define KH_MAPS_H

#include "session.h"

/* Every gfn entry (of @pid, 0: all) with its sub-page counts where written. */
int kh_read_gfns(int gfn_fd, int sub_fd, uint32_t pid, struct kh_gfn_stat **out, size_t *n);
int kh_read_regions(int fd, uint32_t pid, struct kh_key **keys, struct kh_region **vals,
		    size_t *n);

/* A hash map moved into flat key/value arrays: read and emptied in one pass. */
struct kh_drain {
	void *keys, *vals;
	size_t n, cap;
};

/* Entries beyond @max (inserted while draining) stay for the next interval. */
int kh_drain_map(int fd, size_t ksz, size_t vsz, size_t max, struct kh_drain *d);
/* Pre-5.6 kernels (no batch ops): key by key. */
int kh_drain_slow(int fd, size_t ksz, size_t vsz, size_t max, struct kh_drain *d);
void kh_drain_free(struct kh_drain *d);

/* One interval of a session's three maps, drained together (top, export). */
struct kh_interval {
	struct kh_drain gd, rd, sd;	/* gfns, regions, sub-page rows */
};
int kh_drain_session(struct kh_session *s, struct kh_interval *iv);
void kh_interval_free(struct kh_interval *iv);

/* bcc-style log2 histogram: slot i counts values in [2^i, 2^(i+1)), slot 0 also 0. */
void kh_print_log2_hist(FILE *f, const uint64_t *slots, int nslots, const char *what);
/* The same layout for @n linear slots (the 32 sub-page indexes). */
void kh_print_linear_hist(FILE *f, const uint64_t *v, int n, const char *what);

#endif /* KH_MAPS_H */
