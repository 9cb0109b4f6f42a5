// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * kh_counts arithmetic, written once.  A new counter in struct kh_counts
 * (include/kvmheat.h) is added here and in the BPF accounting
 * (bpf/common.bpf.h kh_account), and shown by kh_counts_json (view.c):
 * nothing else adds, subtracts or tests counters field by field.
 */
#include <errno.h>
#include <stdlib.h>
#include "base.h"

/* The counters, as offsets, so one loop serves add, sub and any. */
static const size_t kh_counter_off[] = {
	offsetof(struct kh_counts, accesses), offsetof(struct kh_counts, writes),
	offsetof(struct kh_counts, faults), offsetof(struct kh_counts, aged),
	offsetof(struct kh_counts, young), offsetof(struct kh_counts, tracked),
	offsetof(struct kh_counts, spp),
};
#define KH_NR_COUNTERS (sizeof(kh_counter_off) / sizeof(kh_counter_off[0]))
/* Every __u64 before the mask is a counter: a new one must be listed above. */
_Static_assert(KH_NR_COUNTERS * sizeof(__u64) == offsetof(struct kh_counts, subpage_mask),
	       "kh_counter_off must list every counter of struct kh_counts");

static uint64_t *kh_ctr(struct kh_counts *c, size_t i)
{
	return (uint64_t *)((char *)c + kh_counter_off[i]);
}

static uint64_t kh_ctr_get(const struct kh_counts *c, size_t i)
{
	return *(const uint64_t *)((const char *)c + kh_counter_off[i]);
}

void kh_counts_add(struct kh_counts *t, const struct kh_counts *d)
{
	for (size_t i = 0; i < KH_NR_COUNTERS; i++)
		*kh_ctr(t, i) += kh_ctr_get(d, i);
	t->subpage_mask |= d->subpage_mask;
	t->flags |= d->flags;
}

bool kh_counts_sub(const struct kh_counts *cur, const struct kh_counts *prev,
		   struct kh_counts *d)
{
	for (size_t i = 0; i < KH_NR_COUNTERS; i++)
		if (kh_ctr_get(cur, i) < kh_ctr_get(prev, i))
			return false;
	for (size_t i = 0; i < KH_NR_COUNTERS; i++)
		*kh_ctr(d, i) = kh_ctr_get(cur, i) - kh_ctr_get(prev, i);
	d->subpage_mask = cur->subpage_mask & ~prev->subpage_mask;
	d->flags = cur->flags;
	return true;
}

bool kh_counts_any(const struct kh_counts *c)
{
	for (size_t i = 0; i < KH_NR_COUNTERS; i++)
		if (kh_ctr_get(c, i))
			return true;
	return false;
}

int kh_pidgfn_cmp(const void *a, const void *b)
{
	const struct kh_gfn_stat *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->gfn < y->gfn ? -1 : x->gfn > y->gfn;
}

int kh_key_cmp(const void *a, const void *b)
{
	const struct kh_key *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int kh_grow(void *arr, size_t *cap, size_t need, size_t elem)
{
	void **p = arr;
	size_t nc = *cap ? *cap : 16;
	void *nv;

	if (need <= *cap)
		return 0;
	while (nc < need)
		nc *= 2;
	nv = realloc(*p, nc * elem);
	if (!nv)
		return -ENOMEM;
	*p = nv;
	*cap = nc;
	return 0;
}
