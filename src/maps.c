// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Map readers: the cumulative per-gfn and region maps read whole (heat,
 * record), drained per interval (top, and anything else that shows rates),
 * and the bcc-style histogram printers, as libbpf-tools' trace_helpers.c.
 *
 * Draining uses BPF_MAP_LOOKUP_AND_DELETE_BATCH: each bucket is copied out
 * and emptied under its lock, so an entry is in this interval or the next,
 * never in both; src/top.c explains why this beat swapping two map sets.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "maps.h"
#include "kvmheat.skel.h"

#define KH_HIST_STARS	40

int kh_read_gfns(int gfn_fd, int sub_fd, uint32_t pid, struct kh_gfn_stat **out, size_t *n)
{
	struct kh_gfn_stat *v = NULL;
	struct kh_key key, next;
	size_t len = 0, cap = 0;
	int r;

	for (r = bpf_map_get_next_key(gfn_fd, NULL, &next); !r;
	     r = bpf_map_get_next_key(gfn_fd, &key, &next)) {
		struct kh_gfn_stat *g;

		key = next;
		if (pid && key.pid != pid)
			continue;
		if (kh_grow(&v, &cap, len + 1, sizeof(*v))) {
			free(v);
			return -ENOMEM;
		}
		g = &v[len];
		memset(g, 0, sizeof(*g));
		if (bpf_map_lookup_elem(gfn_fd, &key, &g->c))
			continue;	/* evicted between next_key and lookup */
		g->pid = key.pid;
		g->gfn = key.idx;
		if (sub_fd >= 0 && g->c.writes)
			g->has_subpages = !bpf_map_lookup_elem(sub_fd, &key, &g->sp);
		len++;
	}
	*out = v;
	*n = len;
	return 0;
}

int kh_read_regions(int fd, uint32_t pid, struct kh_key **keys, struct kh_region **vals,
		    size_t *n)
{
	struct kh_key key, next, *k = NULL;
	struct kh_region *v = NULL;
	size_t len = 0, kcap = 0, vcap = 0;
	int r;

	for (r = bpf_map_get_next_key(fd, NULL, &next); !r;
	     r = bpf_map_get_next_key(fd, &key, &next)) {
		key = next;
		if (pid && key.pid != pid)
			continue;
		if (len == kcap || len == vcap) {
			if (kh_grow(&k, &kcap, len + 1, sizeof(*k)) ||
			    kh_grow(&v, &vcap, len + 1, sizeof(*v))) {
				free(k);
				free(v);
				return -ENOMEM;
			}
		}
		if (bpf_map_lookup_elem(fd, &key, &v[len]))
			continue;
		k[len++] = key;
	}
	*keys = k;
	*vals = v;
	*n = len;
	return 0;
}

static int kh_drain_grow(struct kh_drain *d, size_t ksz, size_t vsz, size_t max)
{
	size_t nc = d->cap ? d->cap * 2 : 1024;
	void *k, *v;

	if (d->cap >= max)
		return -ENOSPC;
	if (nc > max)
		nc = max;
	k = realloc(d->keys, nc * ksz);
	if (!k)
		return -ENOMEM;
	d->keys = k;
	v = realloc(d->vals, nc * vsz);
	if (!v)
		return -ENOMEM;
	d->vals = v;
	d->cap = nc;
	return 0;
}

/* Pre-5.6 kernels: collect keys, then look each one up and delete it. */
int kh_drain_slow(int fd, size_t ksz, size_t vsz, size_t max, struct kh_drain *d)
{
	size_t nk = 0, j = 0;
	int r;

	if (!d->cap && kh_drain_grow(d, ksz, vsz, max))
		return -ENOMEM;
	for (r = bpf_map_get_next_key(fd, NULL, d->keys); !r && nk < d->cap;) {
		nk++;
		if (nk == d->cap && kh_drain_grow(d, ksz, vsz, max))
			break;
		r = bpf_map_get_next_key(fd, (char *)d->keys + (nk - 1) * ksz,
					 (char *)d->keys + nk * ksz);
	}
	for (size_t i = 0; i < nk; i++) {
		void *k = (char *)d->keys + i * ksz;

		if (bpf_map_lookup_elem(fd, k, (char *)d->vals + j * vsz))
			continue;
		bpf_map_delete_elem(fd, k);
		if (i != j)
			memmove((char *)d->keys + j * ksz, k, ksz);
		j++;
	}
	d->n = j;
	return 0;
}

/*
 * Move every entry of a hash map into @d.  Entries beyond @max (inserted
 * while draining) stay for the next interval.
 */
int kh_drain_map(int fd, size_t ksz, size_t vsz, size_t max, struct kh_drain *d)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint32_t tok[4] = {};	/* htab batch token: a bucket index */
	bool first = true;
	int err;

	d->n = 0;
	if (!d->cap && kh_drain_grow(d, ksz, vsz, max))
		return -ENOMEM;
	for (;;) {
		__u32 cnt;

		if (d->n == d->cap && kh_drain_grow(d, ksz, vsz, max))
			return 0;
		cnt = d->cap - d->n;
		err = bpf_map_lookup_and_delete_batch(fd, first ? NULL : tok, tok,
						      (char *)d->keys + d->n * ksz,
						      (char *)d->vals + d->n * vsz, &cnt, &opts);
		/* 524: the kernel's ENOTSUPP, which userspace headers lack */
		if (err == -EINVAL || err == -EOPNOTSUPP || err == -ENOTSUP || err == -524) {
			if (first)
				return kh_drain_slow(fd, ksz, vsz, max, d);
			return err;
		}
		d->n += cnt;
		first = false;
		if (err == -ENOENT)
			return 0;
		if (err == -ENOSPC) {
			/* a bucket larger than what is left: grow, or leave it */
			if (kh_drain_grow(d, ksz, vsz, max))
				return 0;
			continue;
		}
		if (err)
			return err;
	}
}

void kh_drain_free(struct kh_drain *d)
{
	free(d->keys);
	free(d->vals);
	memset(d, 0, sizeof(*d));
}


/*
 * Empty the regions, gfns and sub-page rows into @iv.  Sub-page rows are
 * drained even by views that do not show them, so they cannot pile up
 * across intervals; the caps leave room for entries added while draining.
 */
int kh_drain_session(struct kh_session *s, struct kh_interval *iv)
{
	struct kvmheat_bpf *sk = s->skel;
	int err;

	err = kh_drain_map(bpf_map__fd(sk->maps.regions), sizeof(struct kh_key),
			   sizeof(struct kh_region), s->region_entries + 256, &iv->rd);
	if (!err)
		err = kh_drain_map(bpf_map__fd(sk->maps.gfns), sizeof(struct kh_key),
				   sizeof(struct kh_counts), s->gfn_entries + 256, &iv->gd);
	if (!err)
		sk->bss->gfn_inserts = 0;	/* emptied: room for aging entries again */
	if (!err)
		err = kh_drain_map(bpf_map__fd(sk->maps.subpages), sizeof(struct kh_key),
				   sizeof(struct kh_subpages), s->subpage_entries + 256, &iv->sd);
	return err;
}

void kh_interval_free(struct kh_interval *iv)
{
	kh_drain_free(&iv->gd);
	kh_drain_free(&iv->rd);
	kh_drain_free(&iv->sd);
}

/*
 * The layout bcc's tools use, so the output reads like theirs:
 *          what          : count    distribution
 *         0 -> 1         : 3        |*******                                 |
 * Slot i holds values 2^i .. 2^(i+1)-1; slot 0 is shown as 0 -> 1.
 */
void kh_print_log2_hist(FILE *f, const uint64_t *slots, int nslots, const char *what)
{
	uint64_t max = 0;
	int last = -1;

	for (int i = 0; i < nslots; i++) {
		if (slots[i])
			last = i;
		if (slots[i] > max)
			max = slots[i];
	}
	if (last < 0) {
		fprintf(f, "%24s : (none)\n", what);
		return;
	}
	fprintf(f, "%24s : count    distribution\n", what);
	for (int i = 0; i <= last; i++) {
		uint64_t low = i ? 1ULL << i : 0, high = i < 63 ? (2ULL << i) - 1 : ~0ULL;
		int stars = (int)(slots[i] * KH_HIST_STARS / max);
		char bar[KH_HIST_STARS + 1];

		memset(bar, ' ', KH_HIST_STARS);
		memset(bar, '*', stars);
		bar[KH_HIST_STARS] = 0;
		fprintf(f, "%10" PRIu64 " -> %-10" PRIu64 " : %-8" PRIu64 " |%s|\n", low, high,
			slots[i], bar);
	}
}

/* Linear form for the 32 sub-page indexes, in the same style. */
void kh_print_linear_hist(FILE *f, const uint64_t *v, int n, const char *what)
{
	uint64_t max = 0;

	for (int i = 0; i < n; i++)
		if (v[i] > max)
			max = v[i];
	if (!max) {
		fprintf(f, "%24s : (none)\n", what);
		return;
	}
	fprintf(f, "%24s : count    distribution\n", what);
	for (int i = 0; i < n; i++) {
		char bar[KH_HIST_STARS + 1], idx[48];
		int stars = (int)(v[i] * KH_HIST_STARS / max);

		memset(bar, ' ', KH_HIST_STARS);
		memset(bar, '*', stars);
		bar[KH_HIST_STARS] = 0;
		snprintf(idx, sizeof(idx), "%d (bytes %d-%d)", i, i << KH_SUBPAGE_SHIFT,
			 ((i + 1) << KH_SUBPAGE_SHIFT) - 1);
		fprintf(f, "%24s : %-8" PRIu64 " |%s|\n", idx, v[i], bar);
	}
}
