// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Active aging for live commands (top, export, heat): per watched VM an
 * aging driver, idle ages and their summary.  The command drains the BPF
 * maps once per sample; scans run just before a drain (page_idle and MGLRU
 * age inside our write(), so the scan's results are in that drain; DAMON
 * ages by itself and a scan only checks it), at the first sample at or
 * after each --scan-interval.  Samples between scans only reset the ages
 * of pages some source saw accessed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "scan.h"

void kh_idle_sum_reset(struct kh_idle_sum *s, unsigned int ws_scans)
{
	s->known_pages = s->idle_pages = s->ws_pages = 0;
	memset(s->cold_bytes, 0, sizeof(s->cold_bytes));
	memset(s->hist, 0, sizeof(s->hist));
	s->ws_scans = ws_scans ? ws_scans : 1;
}

void kh_idle_sum_add(struct kh_idle_sum *s, uint64_t npages, unsigned int age)
{
	int b = 0;

	s->known_pages += npages;
	if (age >= 1)
		s->idle_pages += npages;
	if (age < s->ws_scans)
		s->ws_pages += npages;
	for (int i = 0; i < KH_IDLE_NCOLD; i++)
		if (age >= kh_idle_cold_age(i))
			s->cold_bytes[i] += npages << KH_PAGE_SHIFT;
	/* bucket b >= 1 holds [2^(b-1), 2^b): the highest one holds the rest */
	while (b < KH_IDLE_NHIST - 1 && age >= (1U << b))
		b++;
	s->hist[b] += npages;
}

static int kh_idle_sum_run(void *ctx, uint64_t gfn, uint64_t hva, uint64_t npages,
			   unsigned int age)
{
	(void)gfn;
	(void)hva;
	kh_idle_sum_add(ctx, npages, age);
	return 0;
}

int kh_idle_summarize(const struct kh_idle *st, unsigned int ws_scans, struct kh_idle_sum *out)
{
	kh_idle_sum_reset(out, ws_scans);
	out->scans = st->scans;
	return kh_idle_walk(st, kh_idle_sum_run, out);
}

double kh_idle_sum_pct(const struct kh_idle_sum *s)
{
	if (!s || !s->valid || !s->known_pages)
		return -1;
	return 100.0 * (double)s->idle_pages / (double)s->known_pages;
}

json_t *kh_idle_sum_json(const struct kh_idle_sum *s, double interval_s)
{
	json_t *cold = json_object(), *hist = json_array();
	double pct = kh_idle_sum_pct(s);
	char k[8];

	for (int i = 0; i < KH_IDLE_NCOLD; i++) {
		snprintf(k, sizeof(k), "%u", kh_idle_cold_age(i));
		json_object_set_new(cold, k, json_integer((json_int_t)s->cold_bytes[i]));
	}
	for (int b = 0; b < KH_IDLE_NHIST; b++)
		json_array_append_new(hist, json_integer((json_int_t)s->hist[b]));
	return json_pack("{s:s, s:I, s:f, s:I, s:o, s:o, s:o, s:i, s:I}", "age_driver",
			 kh_agedrv_name(s->driver), "scans", (json_int_t)s->scans,
			 "scan_interval_s", interval_s, "pages_aged", (json_int_t)s->known_pages,
			 "idle_pct", pct < 0 ? json_null() : json_real(pct), "idle_bytes", cold,
			 "idle_age_hist", hist, "working_set_scans", (int)s->ws_scans,
			 "working_set_bytes", (json_int_t)(s->ws_pages << KH_PAGE_SHIFT));
}

void kh_idle_sum_print(FILE *f, uint32_t pid, const struct kh_idle_sum *s, double interval_s)
{
	char b[32];

	fprintf(f, "VM %u idle: driver %s, %" PRIu64 " scan(s) %.3g s apart, %" PRIu64
		" pages with an idle age, %.1f%% of them idle\n", pid, kh_agedrv_name(s->driver),
		s->scans, interval_s, s->known_pages, s->known_pages ? kh_idle_sum_pct(s) : 0.0);
	fprintf(f, "  idle bytes:");
	for (int i = 0; i < KH_IDLE_NCOLD; i++)
		fprintf(f, " >=%u scans (%.3g s) %s%s", kh_idle_cold_age(i),
			kh_idle_cold_age(i) * interval_s, kh_fmt_bytes(s->cold_bytes[i], b, sizeof(b)),
			i + 1 < KH_IDLE_NCOLD ? "," : "\n");
	fprintf(f, "  idle age (scans) histogram, pages:");
	for (int k = 0; k < KH_IDLE_NHIST; k++) {
		unsigned int lo = kh_idle_hist_lo(k), hi = k < 2 ? lo : (1U << k) - 1;

		if (lo == hi)
			fprintf(f, " %u:%" PRIu64, lo, s->hist[k]);
		else
			fprintf(f, " %u-%u:%" PRIu64, lo, hi > KH_IDLE_MAX ? KH_IDLE_MAX : hi, s->hist[k]);
	}
	fprintf(f, "\n  working set (young within the last %u scan%s, %.3g s): %s\n", s->ws_scans,
		s->ws_scans == 1 ? "" : "s", s->ws_scans * interval_s,
		kh_fmt_bytes(s->ws_pages << KH_PAGE_SHIFT, b, sizeof(b)));
}

int kh_scan_driver_open(struct kh_ager *a, struct kh_agedrv_probe *p, uint32_t pid, int want,
			char *why, size_t whylen)
{
	char err_why[320];
	int err;

	kh_agedrv_probe(p, NULL, pid, want >= 0 ? want : -1);
	if (want >= 0 && p->chosen < 0) {
		snprintf(why, whylen, "aging driver %s refused: %s", kh_agedrv_name(want),
			 p->res[want].why);
		return -ENODEV;
	}
	if (p->chosen < 0) {
		snprintf(why, whylen, "no aging driver usable (page_idle: %s; mglru: %s; damon: "
			 "%s): passive aging only", p->res[KH_AD_PAGE_IDLE].why,
			 p->res[KH_AD_MGLRU].why, p->res[KH_AD_DAMON].why);
		return 0;
	}
	err = kh_ager_open(a, p->chosen, pid, NULL, err_why, sizeof(err_why));
	if (err && want >= 0) {
		snprintf(why, whylen, "%s: %s", kh_agedrv_name(p->chosen), err_why);
		return err;
	}
	if (err) {
		snprintf(why, whylen, "aging driver %s failed (%s): passive aging only",
			 kh_agedrv_name(p->chosen), err_why);
		return 0;
	}
	return 1;
}

int kh_scan_start(struct kh_scan *sc, char *why, size_t whylen)
{
	struct kh_agedrv_probe p;

	if (!kh_scan_on(sc))
		return 0;
	/* what needs no VM first: a host where nothing can work says so once */
	kh_agedrv_probe(&p, NULL, 0, sc->want >= 0 ? sc->want : -1);
	if (sc->want >= 0 && !p.res[sc->want].ok) {
		snprintf(why, whylen, "aging driver %s refused: %s", kh_agedrv_name(sc->want),
			 p.res[sc->want].why);
		return -ENODEV;
	}
	for (int i = 0; i < KH_AD_MAX; i++)
		if (p.res[i].ok)
			return 0;
	snprintf(why, whylen, "no aging driver usable (page_idle: %s; mglru: %s; damon: %s): "
		 "passive aging only", p.res[KH_AD_PAGE_IDLE].why, p.res[KH_AD_MGLRU].why,
		 p.res[KH_AD_DAMON].why);
	sc->want = KH_SCAN_NONE;
	return 1;
}

static void kh_scan_note(const struct kh_scan *sc, const char *fmt, uint32_t pid, const char *m)
{
	char line[1400];

	if (!sc->note)
		return;
	snprintf(line, sizeof(line), fmt, pid, m);
	sc->note(sc->note_ctx, line);
}


static uint32_t kh_bits_in_use(const struct kh_scan_bits *b)
{
	uint32_t nr = 0;

	for (uint32_t i = 0; i < KH_IDLE_SLOTS; i++)
		if (b->desc[i].npages)
			nr = i + 1;
	return nr;
}

static void kh_bits_noslots(struct kh_idle *st)
{
	for (size_t k = 0; k < st->nslots; k++)
		st->slots[k].has_bits = false;
}

/*
 * Give @v's memslots idle bits: a free run of words and free descriptors.
 * 1 when they were given, 0 when they do not fit (@m says so: the VM's
 * aging results then take hash entries, never silently), -errno when
 * publishing failed (the VM keeps hash entries too).
 */
int kh_scan_bits_get(struct kh_scan *sc, struct kh_scan_vm *v, char *m, size_t mlen)
{
	struct kh_scan_bits *b = &sc->bits;
	struct kh_idle_slot_desc d[KH_IDLE_SLOTS];
	uint32_t idx[KH_IDLE_SLOTS], nfree = 0;
	uint64_t w;
	size_t nd;
	int err;

	w = kh_idle_bits_layout(&v->st, d, &nd);
	for (uint32_t i = 0; i < KH_IDLE_SLOTS && nfree < nd; i++)
		if (!b->desc[i].npages)
			idx[nfree++] = i;
	if (!nd || nfree < nd) {
		kh_bits_noslots(&v->st);
		snprintf(m, mlen, "idle bits full (%zu memslots, %u descriptors free): its aging "
			 "results take per-gfn hash entries", nd, nfree);
		return 0;
	}
	/* its first descriptor's index names its array: no other VM holds that one */
	err = b->map(b->ctx, idx[0], w, &v->bits);
	if (err) {
		kh_bits_noslots(&v->st);
		snprintf(m, mlen, "idle bits: an array of %" PRIu64 " words refused (%s): its aging "
			 "results take per-gfn hash entries", w, strerror(-err));
		return 0;
	}
	v->bits_at = idx[0];
	for (size_t j = 0; j < nd; j++) {
		d[j].map = idx[0];
		b->desc[idx[j]] = d[j];
		v->bit_descs |= 1ULL << idx[j];
	}
	for (size_t j = 0; j < nd; j++) {
		err = b->publish(b->ctx, idx[j], &b->desc[idx[j]], kh_bits_in_use(b));
		if (err) {
			snprintf(m, mlen, "publishing its idle bits: %s: aging results take per-gfn "
				 "hash entries", strerror(-err));
			return err;
		}
	}
	return 1;
}

/* A VM that goes away (or whose bits failed): its descriptors and array go. */
void kh_scan_bits_put(struct kh_scan *sc, struct kh_scan_vm *v)
{
	struct kh_scan_bits *b = &sc->bits;

	for (uint32_t i = 0; i < KH_IDLE_SLOTS; i++) {
		struct kh_idle_slot_desc *d = &b->desc[i];

		if (!(v->bit_descs & (1ULL << i)))
			continue;
		/* BPF stops looking at the descriptor first, then the array goes */
		memset(d, 0, sizeof(*d));
		b->publish(b->ctx, i, d, kh_bits_in_use(b));
	}
	if (v->bits.words)
		b->unmap(b->ctx, v->bits_at, &v->bits);
	v->bit_descs = 0;
	if (v->st.slots)
		kh_bits_noslots(&v->st);
}

static void kh_scan_vm_free(struct kh_scan *sc, struct kh_scan_vm *v)
{
	kh_scan_bits_put(sc, v);
	if (v->open)
		kh_ager_close(&v->ager);
	kh_idle_free(&v->st);
	memset(v, 0, sizeof(*v));
}

/* A VM seen for the first time: its driver and its ages. */
static int kh_scan_add(struct kh_scan *sc, const struct kh_vm *vm, char *why, size_t whylen)
{
	struct kh_agedrv_probe p;
	struct kh_scan_vm *v;
	char m[1200];
	int rc;

	if (kh_grow(&sc->vms, &sc->cap, sc->n + 1, sizeof(*sc->vms)))
		return -ENOMEM;
	v = &sc->vms[sc->n];
	memset(v, 0, sizeof(*v));
	v->pid = vm->pid;
	v->kvm = vm->kvm;
	v->seen = true;
	rc = kh_scan_driver_open(&v->ager, &p, vm->pid, sc->want, m, sizeof(m));
	if (p.notes[0])
		kh_scan_note(sc, "VM %u: %s", vm->pid, p.notes);
	if (rc > 0 && kh_idle_init(&v->st, vm)) {
		kh_ager_close(&v->ager);
		return -ENOMEM;
	}
	sc->n++;
	if (rc < 0) {
		snprintf(why, whylen, "VM %u: %s", vm->pid, m);
		return rc;
	}
	if (!rc) {
		kh_scan_note(sc, "VM %u: %s", vm->pid, m);
		return 0;
	}
	v->open = true;
	v->sum.driver = v->ager.id;
	if (v->ager.note[0])
		kh_scan_note(sc, "VM %u: %s", vm->pid, v->ager.note);
	/* only VMs with an open driver get bits: nothing else scans them */
	if (sc->bits.on && kh_scan_bits_get(sc, v, m, sizeof(m)) <= 0) {
		kh_scan_bits_put(sc, v);
		kh_scan_note(sc, "VM %u: %s", vm->pid, m);
	}
	return 0;
}

/*
 * A gone VM's last summary, for a report that still shows the VM
 * (keep_gone): one entry per pid, the latest, should a pid come back.
 */
static int kh_scan_keep(struct kh_scan *sc, const struct kh_scan_vm *v)
{
	struct kh_scan_gone *g;

	for (size_t i = 0; i < sc->ngone; i++)
		if (sc->gone[i].pid == v->pid) {
			sc->gone[i].sum = v->sum;
			return 0;
		}
	g = realloc(sc->gone, (sc->ngone + 1) * sizeof(*g));
	if (!g)
		return -ENOMEM;
	sc->gone = g;
	g[sc->ngone++] = (struct kh_scan_gone){ .pid = v->pid, .sum = v->sum };
	return 0;
}

int kh_scan_sync(struct kh_scan *sc, const struct kh_vmset *vms, char *why, size_t whylen)
{
	int ret = 0;
	size_t w = 0;

	if (!kh_scan_on(sc))
		return 0;
	for (size_t i = 0; i < sc->n; i++)
		sc->vms[i].seen = false;
	for (size_t i = 0; i < vms->n; i++) {
		const struct kh_vm *vm = &vms->vms[i];
		size_t k;
		int err;

		if (sc->pid && vm->pid != sc->pid)
			continue;	/* never age a VM the user did not ask about */
		for (k = 0; k < sc->n; k++)
			if (sc->vms[k].pid == vm->pid && sc->vms[k].kvm == vm->kvm)
				break;
		if (k < sc->n) {
			sc->vms[k].seen = true;
			continue;
		}
		err = kh_scan_add(sc, vm, why, whylen);
		if (err == -ENOMEM)
			return err;
		if (err && !ret)
			ret = err;
	}
	/* gone VMs: kernel state first (kdamond off), then the ages */
	for (size_t i = 0; i < sc->n; i++) {
		if (sc->vms[i].seen) {
			sc->vms[w++] = sc->vms[i];
			continue;
		}
		if (sc->keep_gone && sc->vms[i].sum.valid && kh_scan_keep(sc, &sc->vms[i]))
			return -ENOMEM;
		kh_scan_vm_free(sc, &sc->vms[i]);
	}
	sc->n = w;
	return ret;
}

void kh_scan_tick(struct kh_scan *sc, const struct kh_vmset *vms, double now)
{
	char why[320];

	if (!kh_scan_on(sc) || now < sc->next)
		return;
	for (size_t i = 0; i < sc->n; i++) {
		struct kh_scan_vm *v = &sc->vms[i];
		const struct kh_vm *vm = kh_vms_find((struct kh_vmset *)vms, v->pid);

		if (!v->open || !vm)
			continue;
		if (kh_ager_scan(&v->ager, vm, why, sizeof(why))) {
			/* ages stay as they were; the summary says how many scans made them */
			kh_scan_note(sc, "VM %u: scan failed, passive aging from now on: %s",
				     v->pid, why);
			kh_ager_close(&v->ager);
			v->open = false;
			kh_scan_bits_put(sc, v);	/* nothing scans it now: hash entries */
		}
	}
	sc->pending = true;
	sc->next = sc->interval > 0 && sc->next + sc->interval > now ? sc->next + sc->interval
								      : now + sc->interval;
}

struct kh_scan_touch_ctx {
	struct kh_scan_vm *v;
	struct kh_idle_slot *s;
};

static void kh_scan_touch_page(void *ctx, uint64_t i, unsigned int state)
{
	struct kh_scan_touch_ctx *c = ctx;

	/* either kind: between scans any young result is an access */
	c->v->bits_aged++;
	if (state == KH_IDLE_S_YOUNG) {
		c->v->bits_young++;
		c->s->age[i] = 0;
	}
}

/* A range aged as one between scans: young resets its region's entry, as for pages. */
static void kh_scan_touch_region(void *ctx, uint64_t i, unsigned int state)
{
	struct kh_scan_touch_ctx *c = ctx;
	uint8_t *h = state == KH_IDLE_S_YOUNG ? kh_idle_huge(c->s, i) : NULL;

	if (h)
		*h = 0;	/* no memory for it: the next scan's state ages it anyway */
}

/*
 * Between scans: read and clear @v's states; a young one is an access (age
 * 0), an aged one is someone else's aging and adds no age, as kh_idle_touch
 * treats hash entries.
 */
static void kh_scan_bits_touch(struct kh_scan_vm *v)
{
	for (size_t k = 0; k < v->st.nslots; k++) {
		struct kh_scan_touch_ctx c = { .v = v, .s = &v->st.slots[k] };

		kh_idle_slot_states(c.s, false, v->bits.words, v->bits.nwords, true,
				    kh_scan_touch_page, &c);
		kh_idle_slot_states(c.s, true, v->bits.words, v->bits.nwords, true,
				    kh_scan_touch_region, &c);
	}
}

/* A drained region key and its position, sorted for kh_scan_bits_wset. */
struct kh_rkey {
	struct kh_key k;
	size_t i;
};

struct kh_scan_wset_ctx {
	uint32_t pid;
	uint64_t base_gfn;
	const struct kh_rkey *sorted;
	size_t nr;
	const struct kh_region *rv;
	uint64_t n;
};

static void kh_scan_wset_page(void *ctx, uint64_t i, unsigned int state)
{
	struct kh_scan_wset_ctx *c = ctx;
	uint64_t p = c->base_gfn + i, in = p & (KH_REGION_GFNS - 1);
	struct kh_key key = { .pid = c->pid, .idx = p >> KH_REGION_SHIFT };
	const struct kh_rkey *h;
	const __u64 *t;

	/* a clear's or a test's young: either is a page in use */
	if (state != KH_IDLE_S_YOUNG)
		return;
	h = c->nr ? bsearch(&key, c->sorted, c->nr, sizeof(*c->sorted), kh_key_cmp) : NULL;
	t = h ? c->rv[h->i].touched : NULL;
	if (!(t && (t[in / 64] >> (in & 63) & 1)))
		c->n++;
}

/*
 * Young pages in @v's states that no region entry marks touched: with hash
 * entries a young result set its region's touched bit, which the rows'
 * working set counts; states set none.  Read before they are consumed
 * (one BPF sets in between is counted at the next fold).
 */
static uint64_t kh_scan_bits_wset(const struct kh_scan_vm *v, const struct kh_rkey *sorted,
				  size_t nr, const struct kh_region *rv)
{
	uint64_t n = 0;

	for (size_t k = 0; k < v->st.nslots; k++) {
		const struct kh_idle_slot *s = &v->st.slots[k];
		struct kh_scan_wset_ctx c = { .pid = v->pid, .base_gfn = s->base_gfn,
			.sorted = sorted, .nr = nr, .rv = rv };

		kh_idle_slot_states(s, false, v->bits.words, v->bits.nwords, false, kh_scan_wset_page,
				    &c);
		n += c.n;
	}
	return n;
}

/* The interval's region keys, sorted; NULL with *n 0 when there are none or no memory. */
static struct kh_rkey *kh_rkeys(const struct kh_key *rk, size_t nr, size_t *n)
{
	struct kh_rkey *r = nr ? malloc(nr * sizeof(*r)) : NULL;

	*n = r ? nr : 0;
	for (size_t i = 0; r && i < nr; i++)
		r[i] = (struct kh_rkey){ rk[i], i };
	if (r)
		qsort(r, nr, sizeof(*r), kh_key_cmp);
	return r;
}

int kh_scan_fold(struct kh_scan *sc, const struct kh_key *gk, const struct kh_counts *gv,
		 size_t ng, const struct kh_key *rk, const struct kh_region *rv, size_t nr)
{
	struct kh_idle_scan out;
	struct kh_rkey *sorted = NULL;
	size_t ns = 0;

	for (size_t i = 0; i < sc->n && !sorted; i++)
		if (sc->vms[i].bit_descs)
			sorted = kh_rkeys(rk, nr, &ns);
	for (size_t i = 0; i < sc->n; i++) {
		struct kh_scan_vm *v = &sc->vms[i];

		v->bits_aged = v->bits_young = 0;
		v->bits_wset = v->bit_descs ? kh_scan_bits_wset(v, sorted, ns, rv) : 0;
		if (!v->st.slots)
			continue;	/* passive VM: no ages */
		if (sc->pending && v->open) {
			if (kh_idle_update(&v->st, gk, gv, ng, rk, rv, nr, &out)) {
				free(sorted);
				return -ENOMEM;
			}
			if (v->bit_descs) {
				/* the scan was counted above: the bits only add ages */
				if (kh_idle_update_bits(&v->st, v->bits.words, v->bits.nwords,
							&out)) {
					free(sorted);
					return -ENOMEM;
				}
				v->bits_aged = out.aged;
				v->bits_young = out.young;
			}
		} else {
			kh_idle_touch(&v->st, gk, gv, ng);
			if (v->bit_descs)
				kh_scan_bits_touch(v);
		}
		if (kh_idle_summarize(&v->st, sc->ws_scans, &v->sum))
			return -ENOMEM;
		v->sum.valid = v->st.scans > 0;
	}
	free(sorted);
	sc->pending = false;
	return 0;
}

/* @cur sorted; each entry's change since @prev (sorted) into @k/@c: how many. */
static size_t kh_prev_delta(const struct kh_scan_prev *cur, size_t n, const struct kh_scan_prev *prev,
			    size_t np, struct kh_key *k, struct kh_counts *c)
{
	size_t m = 0;

	for (size_t i = 0, j = 0; i < n; i++) {
		uint64_t aged = cur[i].aged, acc = cur[i].accesses;

		while (j < np && kh_key_cmp(&prev[j], &cur[i]) < 0)
			j++;
		if (j < np && !kh_key_cmp(&prev[j], &cur[i]) && prev[j].aged <= aged &&
		    prev[j].accesses <= acc) {
			aged -= prev[j].aged;
			acc -= prev[j].accesses;
		}
		if (!aged && !acc)
			continue;
		k[m] = cur[i].k;
		memset(&c[m], 0, sizeof(c[m]));
		c[m].aged = aged;
		c[m].flags = cur[i].flags;
		c[m++].accesses = acc;
	}
	return m;
}

int kh_scan_fold_totals(struct kh_scan *sc, const struct kh_gfn_stat *g, size_t n,
			const struct kh_key *rk, const struct kh_region *rv, size_t nr)
{
	struct kh_scan_prev *cg = malloc((n ? n : 1) * sizeof(*cg));
	struct kh_scan_prev *cr = malloc((nr ? nr : 1) * sizeof(*cr));
	struct kh_key *gk = malloc((n ? n : 1) * sizeof(*gk)), *dk = malloc((nr ? nr : 1) * sizeof(*dk));
	struct kh_counts *gv = malloc((n ? n : 1) * sizeof(*gv));
	struct kh_region *dv = calloc(nr ? nr : 1, sizeof(*dv));
	struct kh_counts *tmp = malloc((nr ? nr : 1) * sizeof(*tmp));
	size_t ng, nd;
	int err = -ENOMEM;

	if (!cg || !cr || !gk || !dk || !gv || !dv || !tmp)
		goto out;
	for (size_t i = 0; i < n; i++)
		cg[i] = (struct kh_scan_prev){ { .pid = g[i].pid, .idx = g[i].gfn }, g[i].c.aged,
					       g[i].c.accesses,
					      g[i].c.flags };
	for (size_t i = 0; i < nr; i++)
		cr[i] = (struct kh_scan_prev){ rk[i], rv[i].c.aged, rv[i].c.accesses,
					      rv[i].c.flags };
	qsort(cg, n, sizeof(*cg), kh_key_cmp);
	qsort(cr, nr, sizeof(*cr), kh_key_cmp);
	ng = kh_prev_delta(cg, n, sc->pg, sc->npg, gk, gv);
	nd = kh_prev_delta(cr, nr, sc->pr, sc->npr, dk, tmp);
	for (size_t i = 0; i < nd; i++)
		dv[i].c = tmp[i];	/* with KH_F_RANGE_AGED: the fold needs it */
	err = kh_scan_fold(sc, gk, gv, ng, dk, dv, nd);
	free(sc->pg);
	free(sc->pr);
	sc->pg = cg;
	sc->pr = cr;
	sc->npg = n;
	sc->npr = nr;
	cg = cr = NULL;
out:
	free(cg);
	free(cr);
	free(gk);
	free(dk);
	free(gv);
	free(dv);
	free(tmp);
	return err;
}

bool kh_scan_bits_counts(const struct kh_scan *sc, uint32_t pid, uint64_t *aged,
			 uint64_t *young, uint64_t *wset)
{
	for (size_t i = 0; i < sc->n; i++)
		if (sc->vms[i].pid == pid && sc->vms[i].bit_descs) {
			*aged = sc->vms[i].bits_aged;
			*young = sc->vms[i].bits_young;
			*wset = sc->vms[i].bits_wset;
			return true;
		}
	*aged = *young = *wset = 0;
	return false;
}

int kh_scan_follow(struct kh_scan *sc, const struct kh_vmset *vms)
{
	char why[1400];
	int err = kh_scan_sync(sc, vms, why, sizeof(why));

	if (err && err != -ENOMEM && sc->note)
		sc->note(sc->note_ctx, why);
	return err == -ENOMEM ? err : 0;
}

const struct kh_idle_sum *kh_scan_sum(const struct kh_scan *sc, uint32_t pid)
{
	for (size_t i = 0; i < sc->n; i++)
		if (sc->vms[i].pid == pid)
			return sc->vms[i].sum.valid ? &sc->vms[i].sum : NULL;
	for (size_t i = 0; i < sc->ngone; i++)
		if (sc->gone[i].pid == pid)
			return &sc->gone[i].sum;
	return NULL;
}

void kh_scan_free(struct kh_scan *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		kh_scan_vm_free(sc, &sc->vms[i]);
	free(sc->vms);
	free(sc->pg);
	free(sc->pr);
	free(sc->gone);
	sc->gone = NULL;
	sc->ngone = 0;
	sc->vms = NULL;
	sc->pg = sc->pr = NULL;
	sc->n = sc->cap = sc->npg = sc->npr = 0;
	memset(&sc->bits, 0, sizeof(sc->bits));
}
