// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Idle ages per gfn, updated once per scan from what the aging hooks
 * counted in the gfn and region maps (drained, so each scan sees only its
 * own results).  Any access signal in an entry resets its age: a young
 * aging result, a fault, a walk, a tracked write.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "vms.h"
#include "idle.h"

int kh_idle_init(struct kh_idle *st, const struct kh_vm *vm)
{
	memset(st, 0, sizeof(*st));
	st->pid = vm->pid;
	st->slots = calloc(vm->nr_slots ? vm->nr_slots : 1, sizeof(*st->slots));
	if (!st->slots)
		return -ENOMEM;
	for (size_t i = 0; i < vm->nr_slots; i++) {
		const struct kh_slot *s = &vm->slots[i];
		struct kh_idle_slot *d = &st->slots[st->nslots];

		if (s->as_id || !s->npages)
			continue;	/* SMM's address space: not guest RAM as the guest sees it */
		d->base_gfn = s->base_gfn;
		d->npages = s->npages;
		d->hva = s->hva;
		d->region0 = s->base_gfn >> KH_REGION_SHIFT;
		d->nregions = ((s->base_gfn + s->npages - 1) >> KH_REGION_SHIFT) - d->region0 + 1;
		d->age = malloc(s->npages);
		st->nslots++;
		if (!d->age) {
			kh_idle_free(st);
			return -ENOMEM;
		}
		memset(d->age, KH_IDLE_UNKNOWN, s->npages);
	}
	return 0;
}

uint8_t *kh_idle_huge(struct kh_idle_slot *s, uint64_t i)
{
	if (!s->huge) {
		s->huge = malloc(s->nregions);
		if (!s->huge)
			return NULL;
		memset(s->huge, KH_IDLE_UNKNOWN, s->nregions);
	}
	return &s->huge[i];
}

void kh_idle_free(struct kh_idle *st)
{
	for (size_t i = 0; i < st->nslots; i++) {
		free(st->slots[i].age);
		free(st->slots[i].huge);
	}
	free(st->slots);
	memset(st, 0, sizeof(*st));
}

static struct kh_idle_slot *kh_idle_slot_of(const struct kh_idle *st, uint64_t gfn)
{
	for (size_t i = 0; i < st->nslots; i++)
		if (gfn >= st->slots[i].base_gfn && gfn - st->slots[i].base_gfn < st->slots[i].npages)
			return &st->slots[i];
	return NULL;
}

/* Not young this scan: one more idle scan; young or accessed: back to 0. */
static void kh_idle_step(uint8_t *a, bool accessed)
{
	if (accessed)
		*a = 0;
	else if (*a == KH_IDLE_UNKNOWN || *a == KH_IDLE_PRIMED)
		*a = 1;
	else if (*a < KH_IDLE_MAX)
		(*a)++;
}

/* gfn-level sums per region, to tell a region's range-aged part from its pages'. */
struct kh_rsum {
	uint64_t ridx, aged, accesses;
};

static int kh_rsum_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct kh_rsum *)a)->ridx, y = ((const struct kh_rsum *)b)->ridx;

	return x < y ? -1 : x > y;
}

/* @sums: sorted by ridx, unique.  -ENOMEM: no region entries for a slot. */
static int kh_idle_regions(struct kh_idle *st, struct kh_rsum *sums, size_t ns,
			    const struct kh_key *rk, const struct kh_region *rv, size_t nr,
			    struct kh_idle_scan *out)
{
	for (size_t i = 0; i < nr; i++) {
		struct kh_rsum key = { .ridx = rk[i].idx }, *g;
		uint64_t aged = rv[i].c.aged, acc = rv[i].c.accesses;
		struct kh_idle_slot *s;
		uint8_t *h;

		if (rk[i].pid != st->pid)
			continue;
		g = ns ? bsearch(&key, sums, ns, sizeof(*sums), kh_rsum_cmp) : NULL;
		if (g) {
			aged = aged > g->aged ? aged - g->aged : 0;
			acc = acc > g->accesses ? acc - g->accesses : 0;
		}
		/* the flag, not the counts alone: gfn entries lost to LRU eviction
		 * would otherwise look like a range */
		if (!aged || !(rv[i].c.flags & KH_F_RANGE_AGED))
			continue;	/* everything here was per gfn */
		s = kh_idle_slot_of(st, rk[i].idx << KH_REGION_SHIFT);
		if (!s) {	/* a slot may start inside the region */
			uint64_t last = ((rk[i].idx + 1) << KH_REGION_SHIFT) - 1;

			s = kh_idle_slot_of(st, last);
		}
		if (!s || rk[i].idx < s->region0 || rk[i].idx - s->region0 >= s->nregions) {
			out->outside++;
			continue;
		}
		h = kh_idle_huge(s, rk[i].idx - s->region0);
		if (!h)
			return -ENOMEM;
		kh_idle_step(h, acc > 0);
		out->huge++;
	}
	return 0;
}

int kh_idle_update(struct kh_idle *st, const struct kh_key *gk, const struct kh_counts *gv,
		   size_t ng, const struct kh_key *rk, const struct kh_region *rv, size_t nr,
		   struct kh_idle_scan *out)
{
	struct kh_rsum *sums = malloc((ng ? ng : 1) * sizeof(*sums));
	size_t ns = 0;
	int err;

	memset(out, 0, sizeof(*out));
	if (!sums)
		return -ENOMEM;
	for (size_t i = 0; i < ng; i++) {
		struct kh_idle_slot *s;

		if (gk[i].pid != st->pid)
			continue;
		/* sum first: the region subtraction needs every gfn-level count */
		if (ns && sums[ns - 1].ridx == gk[i].idx >> KH_REGION_SHIFT) {
			sums[ns - 1].aged += gv[i].aged;
			sums[ns - 1].accesses += gv[i].accesses;
		} else {
			sums[ns++] = (struct kh_rsum){ gk[i].idx >> KH_REGION_SHIFT, gv[i].aged,
						       gv[i].accesses };
		}
		if (!gv[i].aged && !gv[i].accesses)
			continue;
		s = kh_idle_slot_of(st, gk[i].idx);
		if (!s) {
			out->outside++;
			continue;
		}
		kh_idle_step(&s->age[gk[i].idx - s->base_gfn], gv[i].accesses > 0);
		out->aged += gv[i].aged > 0;
		out->young += gv[i].accesses > 0;
	}
	/* equal ridx entries that were not adjacent: merged by the sort below */
	qsort(sums, ns, sizeof(*sums), kh_rsum_cmp);
	{
		size_t w = 0;

		for (size_t i = 0; i < ns; i++) {
			if (w && sums[w - 1].ridx == sums[i].ridx) {
				sums[w - 1].aged += sums[i].aged;
				sums[w - 1].accesses += sums[i].accesses;
			} else {
				sums[w++] = sums[i];
			}
		}
		ns = w;
	}
	err = kh_idle_regions(st, sums, ns, rk, rv, nr, out);
	free(sums);
	st->scans++;
	return err;
}

/*
 * Between scans: an access seen by any source resets the page's age, but
 * no scan is counted and passive aging results add no age (they are not
 * this VM's scan).
 */
void kh_idle_touch(struct kh_idle *st, const struct kh_key *gk, const struct kh_counts *gv,
		   size_t ng)
{
	for (size_t i = 0; i < ng; i++) {
		struct kh_idle_slot *s;

		if (gk[i].pid != st->pid || !gv[i].accesses)
			continue;
		s = kh_idle_slot_of(st, gk[i].idx);
		if (s)
			s->age[gk[i].idx - s->base_gfn] = 0;
	}
}

uint64_t kh_idle_bits_layout(struct kh_idle *st, struct kh_idle_slot_desc *d, size_t *nd)
{
	uint64_t words = 0;

	*nd = 0;
	for (size_t k = 0; k < st->nslots && *nd < KH_IDLE_SLOTS; k++) {
		struct kh_idle_slot *s = &st->slots[k];
		/* kvmheat.h: pages, then the slot's regions, KH_IDLE_PPW a word */
		uint64_t w = (s->npages + KH_IDLE_PPW - 1) / KH_IDLE_PPW;
		uint64_t rw = (s->nregions + KH_IDLE_PPW - 1) / KH_IDLE_PPW;

		if (words + w + rw > UINT32_MAX)	/* desc offsets: past 640 TiB, hash entries */
			break;
		s->word_off = words;
		s->region_off = words + w;
		s->has_bits = true;
		d[(*nd)++] = (struct kh_idle_slot_desc){ .base_gfn = s->base_gfn,
			.npages = s->npages, .word_off = (uint32_t)words, .pid = st->pid,
			.region_off = (uint32_t)(words + w) };
		words += w + rw;
	}
	return words;
}

void kh_idle_hash_sizes(const struct kh_idle *st, uint64_t *gfns, uint64_t *regions,
			uint64_t *subpages)
{
	uint64_t pages = 0, nreg = 0;

	for (size_t k = 0; k < st->nslots; k++) {
		if (st->slots[k].has_bits)
			continue;
		pages += st->slots[k].npages;
		nreg += st->slots[k].nregions;
	}
	/*
	 * Floors: 1024 gfns, and 1024 regions for ranges longer than the states
	 * take (bpf/idlebits.bpf.h KH_IDLE_RANGE_REGIONS); a quarter over, as heat.
	 */
	*gfns = 1024 + pages + pages / 4;
	*regions = 1024 + nreg + nreg / 4;
	*subpages = 64;
}

/*
 * One page's scan from its state (kvmheat.h KH_IDLE_S_*): aged, or found
 * @young by a clear or a test.  A young clear (kvm_age_gfn) means "accessed since the accessed
 * bit was last cleared"; for a page we never cleared that is "since its
 * SPTE was made" (or since someone else's clear), and a test reads the
 * same bit without clearing it: on a page no scan of ours cleared, either
 * says nothing about this session, and the page is only primed.  DAMON's
 * first sample of a page (a clear whose young is stale, then a test 5 ms
 * later) is such a case: it must not read hot.  Returns whether the page
 * counted as accessed.
 */
static bool kh_idle_bits_step(uint8_t *a, bool young)
{
	if (young && *a != KH_IDLE_UNKNOWN) {
		*a = 0;
		return true;
	}
	if (young) {
		*a = KH_IDLE_PRIMED;
		return false;
	}
	kh_idle_step(a, false);
	return false;
}

void kh_idle_slot_states(const struct kh_idle_slot *s, bool regions, uint64_t *words,
			 uint64_t nwords, bool take, kh_idle_state_fn fn, void *ctx)
{
	uint64_t n = regions ? s->nregions : s->npages, off = regions ? s->region_off : s->word_off;

	for (uint64_t g = 0; s->has_bits && g < (n + KH_IDLE_PPW - 1) / KH_IDLE_PPW; g++) {
		uint64_t wi = off + g, w;

		if (wi >= nwords)
			break;
		/* one exchange per word: a state BPF sets meanwhile is kept for the next read */
		w = take ? __atomic_exchange_n(&words[wi], 0, __ATOMIC_RELAXED)
			 : __atomic_load_n(&words[wi], __ATOMIC_RELAXED);
		for (uint64_t i = g * KH_IDLE_PPW; w && i < n; i++, w /= 3)
			if (w % 3)
				fn(ctx, i, (unsigned int)(w % 3));
	}
}

struct kh_idle_fold {
	struct kh_idle_slot *s;
	struct kh_idle_scan *out;
	int err;
};

static void kh_idle_fold_page(void *ctx, uint64_t i, unsigned int state)
{
	struct kh_idle_fold *f = ctx;

	f->out->aged += 1;
	f->out->young += kh_idle_bits_step(&f->s->age[i], state == KH_IDLE_S_YOUNG);
}

/* A range aged as one: the same rule for its region's entry (kh_idle_slot_age). */
static void kh_idle_fold_region(void *ctx, uint64_t i, unsigned int state)
{
	struct kh_idle_fold *f = ctx;
	uint8_t *h = kh_idle_huge(f->s, i);

	if (!h) {
		f->err = -ENOMEM;
		return;
	}
	f->out->huge += 1;
	kh_idle_bits_step(h, state == KH_IDLE_S_YOUNG);
}

int kh_idle_update_bits(struct kh_idle *st, uint64_t *words, uint64_t nwords,
			struct kh_idle_scan *out)
{
	int err = 0;

	memset(out, 0, sizeof(*out));
	for (size_t k = 0; k < st->nslots; k++) {
		struct kh_idle_fold f = { .s = &st->slots[k], .out = out };

		kh_idle_slot_states(f.s, false, words, nwords, true, kh_idle_fold_page, &f);
		kh_idle_slot_states(f.s, true, words, nwords, true, kh_idle_fold_region, &f);
		err = err ? err : f.err;
	}
	return err;
}

/* A page's own age, or its region's range-aged entry, whichever is younger. */
static unsigned int kh_idle_slot_age(const struct kh_idle_slot *s, uint64_t i)
{
	uint8_t a = s->age[i] == KH_IDLE_PRIMED ? KH_IDLE_UNKNOWN : s->age[i];
	uint8_t h = s->huge ? s->huge[((s->base_gfn + i) >> KH_REGION_SHIFT) - s->region0]
			    : KH_IDLE_UNKNOWN;

	h = h == KH_IDLE_PRIMED ? KH_IDLE_UNKNOWN : h;	/* a region state's first young */

	return a < h ? a : h;
}

unsigned int kh_idle_age(const struct kh_idle *st, uint64_t gfn)
{
	const struct kh_idle_slot *s = kh_idle_slot_of(st, gfn);

	return s ? kh_idle_slot_age(s, gfn - s->base_gfn) : KH_IDLE_UNKNOWN;
}

int kh_idle_walk(const struct kh_idle *st, kh_idle_run_fn fn, void *ctx)
{
	for (size_t k = 0; k < st->nslots; k++) {
		const struct kh_idle_slot *s = &st->slots[k];
		uint64_t i = 0;

		while (i < s->npages) {
			unsigned int a = kh_idle_slot_age(s, i);
			uint64_t j = i + 1;
			int rc;

			while (j < s->npages && kh_idle_slot_age(s, j) == a)
				j++;
			if (a != KH_IDLE_UNKNOWN) {
				rc = fn(ctx, s->base_gfn + i, s->hva + (i << KH_PAGE_SHIFT), j - i, a);
				if (rc)
					return rc;
			}
			i = j;
		}
	}
	return 0;
}

struct kh_idle_rcol {
	unsigned int min_age;
	struct kh_idle_range *r;
	size_t n, cap;
};

static int kh_idle_range_add(void *ctx, uint64_t gfn, uint64_t hva, uint64_t npages,
			     unsigned int age)
{
	struct kh_idle_rcol *c = ctx;

	if (age < c->min_age)
		return 0;
	if (kh_grow(&c->r, &c->cap, c->n + 1, sizeof(*c->r)))
		return -ENOMEM;
	c->r[c->n++] = (struct kh_idle_range){
		.gfn_start = gfn, .gfn_end = gfn + npages - 1,
		.hva_start = hva, .hva_end = hva + (npages << KH_PAGE_SHIFT) - 1, .age = age,
	};
	return 0;
}

int kh_idle_ranges(const struct kh_idle *st, unsigned int min_age, struct kh_idle_range **out,
		   size_t *n)
{
	struct kh_idle_rcol c = { .min_age = min_age };
	int err = kh_idle_walk(st, kh_idle_range_add, &c);

	if (err) {
		free(c.r);
		return err;
	}
	*out = c.r;
	*n = c.n;
	return 0;
}

void kh_idle_hist(const struct kh_idle *st, uint64_t *known, uint64_t hist[9])
{
	*known = 0;
	memset(hist, 0, 9 * sizeof(*hist));
	for (size_t k = 0; k < st->nslots; k++)
		for (uint64_t i = 0; i < st->slots[k].npages; i++) {
			unsigned int a = kh_idle_slot_age(&st->slots[k], i);

			if (a == KH_IDLE_UNKNOWN)
				continue;
			(*known)++;
			/* bucket b: idle for at least 2^b scans (1, 2, 4, ... 256) */
			for (int b = 0; b < 9 && a >= (1U << b); b++)
				hist[b] += KH_PAGE_SIZE;
		}
}

json_t *kh_idle_range_json(const struct kh_idle_range *r, double interval_s)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:i, s:f}", "gfn_start", (json_int_t)r->gfn_start,
			 "gfn_end", (json_int_t)r->gfn_end, "hva_start", (json_int_t)r->hva_start,
			 "hva_end", (json_int_t)r->hva_end, "idle_age", (int)r->age,
			 "idle_seconds", r->age * interval_s);
}
