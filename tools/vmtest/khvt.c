// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * khvt: the checks of the nested-kernel rig (docs/VMTEST.md), run inside
 * the QEMU guest by tools/vmtest/init.  Each compares what kvmheat reported
 * (heat -j, probe -j) with khguest's truth or with what the running kernel
 * has, and prints one line per check:
 *
 *   KHVT result <tag> <check> pass|fail|skip <figures>
 *
 * which tests/test_vmtest.c reads from the console log on the host.
 *
 *   khvt probe PROBE.json
 *   khvt aging TRUTH FENTRY.json KPROBE.json TRACEPOINT.json
 *   khvt faults TRUTH WALK.json
 *   khvt track TRUTH FENTRY.json KPROBE.json EVENTS.json
 *   khvt events -p PID      (page-track events of one VM as JSON, until it exits)
 *   khvt exit CODE          (QEMU's isa-debug-exit device, port 0xf4)
 *
 * Exit status: 0 when every check it printed passed or was skipped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/io.h>
#include <sys/utsname.h>
#include <signal.h>
#include <bpf/libbpf.h>
#include <jansson.h>
#include "cli.h"
#include "kvmheat.skel.h"

#define KHVT_EXIT_PORT	0xf4

/* A cold page is touched only before the first reclaim pass, so aging can
 * find it young at most once; a hot page is young in every pass that sees
 * it.  Young in two passes or more is what "hot" means to the checks. */
#define KHVT_HOT_YOUNG	2
#define KHVT_MIN_PR	0.95	/* hot-set precision and recall */
#define KHVT_AGREE	0.98	/* same hot/cold verdict per gfn across methods */
#define KHVT_TOTALS	0.05	/* aged and young totals across methods */

struct khvt {
	const char *tag;
	int failed;
};

static void result(struct khvt *v, const char *check, const char *verdict, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void result(struct khvt *v, const char *check, const char *verdict, const char *fmt, ...)
{
	va_list ap;

	printf("KHVT result %s %s %s ", v->tag, check, verdict);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!strcmp(verdict, "fail"))
		v->failed = 1;
}

static int64_t jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static json_t *load(struct khvt *v, const char *check, const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);

	if (!j)
		result(v, check, "fail", "cannot read %s: %s (line %d)", path, je.text, je.line);
	return j;
}

/* ---- the guest's truth ---- */

struct truth {
	uint64_t pid, base, npages;
	bool *touched, *hot, *written;
	size_t ntouched, nhot, nwritten;
	json_t *root;
};

static int truth_load(struct khvt *v, const char *check, const char *path, struct truth *t)
{
	json_t *pages;

	memset(t, 0, sizeof(*t));
	t->root = load(v, check, path);
	if (!t->root)
		return -1;
	t->pid = jint(t->root, "pid");
	t->base = jint(t->root, "data_gpa") >> KH_PAGE_SHIFT;
	t->npages = jint(t->root, "data_pages");
	t->touched = calloc(t->npages, 1);
	t->hot = calloc(t->npages, 1);
	t->written = calloc(t->npages, 1);
	if (!t->touched || !t->hot || !t->written)
		return -1;
	pages = json_object_get(t->root, "pages");
	for (size_t i = 0; i < json_array_size(pages); i++) {
		json_t *p = json_array_get(pages, i);
		uint64_t g = jint(p, "gfn") - t->base;

		if (g >= t->npages)
			continue;
		t->touched[g] = true;
		t->hot[g] = json_is_true(json_object_get(p, "hot"));
		t->written[g] = jint(p, "writes") > 0;
		t->ntouched++;
		t->nhot += t->hot[g];
		t->nwritten += t->written[g];
	}
	return 0;
}

static void truth_free(struct truth *t)
{
	free(t->touched);
	free(t->hot);
	free(t->written);
	json_decref(t->root);
}

/* ---- kvmheat heat -j output, for the guest's VM ---- */

struct heat {
	json_t *root, *vm;
	char hooks[KH_SRC_MAX][256];
	json_t *stats[KH_SRC_MAX];
	/* per data-slot page */
	uint64_t *aged, *young, *faults, *writes, *tracked;
	uint64_t stray_aged;		/* aged gfns the guest never touched */
	uint64_t outside;		/* counted gfns outside the data slot */
	json_t *gfns;
};

static int heat_load(struct khvt *v, const char *check, const char *path, const struct truth *t,
		     struct heat *h)
{
	json_t *vms, *srcs;

	memset(h, 0, sizeof(*h));
	h->root = load(v, check, path);
	if (!h->root)
		return -1;
	srcs = json_object_get(h->root, "sources");
	for (int s = 0; s < KH_SRC_MAX; s++) {
		json_t *sj = json_array_get(srcs, s);

		snprintf(h->hooks[s], sizeof(h->hooks[s]), "%s", jstr(sj, "hooks"));
		h->stats[s] = json_object_get(json_object_get(h->root, "stats"),
					      jstr(sj, "source"));
	}
	vms = json_object_get(h->root, "vms");
	for (size_t i = 0; i < json_array_size(vms); i++)
		if ((uint64_t)jint(json_array_get(vms, i), "pid") == t->pid)
			h->vm = json_array_get(vms, i);
	h->aged = calloc(t->npages, sizeof(uint64_t));
	h->young = calloc(t->npages, sizeof(uint64_t));
	h->faults = calloc(t->npages, sizeof(uint64_t));
	h->writes = calloc(t->npages, sizeof(uint64_t));
	h->tracked = calloc(t->npages, sizeof(uint64_t));
	if (!h->aged || !h->young || !h->faults || !h->writes || !h->tracked)
		return -1;
	if (!h->vm) {
		/* no event for the VM at all: an empty table, judged by the checks */
		return 0;
	}
	h->gfns = json_object_get(h->vm, "gfns");
	for (size_t i = 0; i < json_array_size(h->gfns); i++) {
		json_t *e = json_array_get(h->gfns, i);
		uint64_t g = jint(e, "gfn") - t->base;

		if (g >= t->npages) {
			h->outside++;
			continue;
		}
		h->aged[g] = jint(e, "aged");
		h->young[g] = jint(e, "young");
		h->faults[g] = jint(e, "faults");
		h->writes[g] = jint(e, "writes");
		h->tracked[g] = jint(e, "tracked");
		if (h->aged[g] && !t->touched[g])
			h->stray_aged++;
	}
	return 0;
}

static void heat_free(struct heat *h)
{
	free(h->aged);
	free(h->young);
	free(h->faults);
	free(h->writes);
	free(h->tracked);
	json_decref(h->root);
}

static uint64_t sum(const uint64_t *a, uint64_t n)
{
	uint64_t s = 0;

	for (uint64_t i = 0; i < n; i++)
		s += a[i];
	return s;
}

static bool near(uint64_t a, uint64_t b, double tol)
{
	double d = (double)a - (double)b, m = a > b ? a : b;

	return m == 0 || (d < 0 ? -d : d) <= tol * m;
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / b : 0;
}

/* ---- probe ---- */

/* Which of @names the running kernel has as symbols (/proc/kallsyms). */
static void kallsyms_have(const char *const *names, bool *have, int n)
{
	char line[512];
	FILE *f = fopen("/proc/kallsyms", "r");

	memset(have, 0, n * sizeof(*have));
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char sym[256];

		if (sscanf(line, "%*s %*s %255s", sym) != 1)
			continue;
		for (int i = 0; i < n; i++)
			if (!have[i] && !strcmp(sym, names[i]))
				have[i] = true;
	}
	fclose(f);
}

static bool tracepoint_exists(const char *sys, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/kernel/tracing/events/%s/%s", sys, name);
	return !access(path, F_OK);
}

/* kvm_amd runs with nested paging (npt=Y). */
static bool npt_on(void)
{
	char c = 0;
	FILE *f = fopen("/sys/module/kvm_amd/parameters/npt", "r");

	if (f) {
		if (fread(&c, 1, 1, f) != 1)
			c = 0;
		fclose(f);
	}
	return c == 'Y' || c == '1';
}

static json_t *probe_hook(json_t *probe, const char *name)
{
	json_t *srcs = json_object_get(probe, "sources");

	for (size_t s = 0; s < json_array_size(srcs); s++) {
		json_t *hooks = json_object_get(json_array_get(srcs, s), "hooks");

		for (size_t h = 0; h < json_array_size(hooks); h++)
			if (!strcmp(jstr(json_array_get(hooks, h), "hook"), name))
				return json_array_get(hooks, h);
	}
	return NULL;
}

/* "method:target" of a hook's choice, or "none". */
static void chosen(json_t *hook, char *buf, size_t len)
{
	json_t *c = json_object_get(hook, "chosen");

	if (json_is_object(c))
		snprintf(buf, len, "%s:%s", jstr(c, "method"), jstr(c, "target"));
	else
		snprintf(buf, len, "none");
}

static bool kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return false;
	return ma > major || (ma == major && mi >= minor);
}

static int cmd_probe(struct khvt *v, const char *path)
{
	/* docs/KERNELS.md section 3: kvm_page_track_write went static inline in 6.6 */
	const bool v66 = kernel_at_least(6, 6);
	const char *const fns[] = { "kvm_age_gfn", "kvm_test_age_gfn", "kvm_mmu_track_write",
				    "kvm_page_track_write", "kvm_mmu_pte_write",
				    "__kvm_page_track_write", "handle_spp" };
	const int nfns = sizeof(fns) / sizeof(fns[0]);
	const struct { const char *hook, *want; } expect[] = {
		{ "age", "fexit:kvm_age_gfn" },
		{ "test_age", "fexit:kvm_test_age_gfn" },
		{ "track_write",
		  v66 ? "fentry:kvm_mmu_track_write" : "fentry:kvm_page_track_write" },
		{ "walk", "tp_btf:kvm_mmu_pagetable_walk" },
		{ "fault", "tp_btf:kvm_page_fault" },
	};
	char got[160], figures[1024] = "", bad[1024] = "";
	bool have[sizeof(fns) / sizeof(fns[0])], npt, ok;
	size_t off = 0, boff = 0;
	json_t *p, *spp;

	p = load(v, "probe", path);
	if (!p)
		return 1;
	kallsyms_have(fns, have, nfns);
	npt = !strcmp(jstr(p, "paging"), "tdp");
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		chosen(probe_hook(p, expect[i].hook), got, sizeof(got));
		off += snprintf(figures + off, sizeof(figures) - off, "%s=%s ", expect[i].hook,
				got);
		if (strcmp(got, expect[i].want))
			boff += snprintf(bad + boff, sizeof(bad) - boff, " %s: want %s;",
					 expect[i].hook, expect[i].want);
	}
	/* every "no function X" refusal must be true of this kernel, and the
	 * chosen functions must exist */
	for (int i = 0; i < nfns; i++) {
		char reason[200];
		json_t *srcs = json_object_get(p, "sources");

		snprintf(reason, sizeof(reason), "no function %s in kernel BTF", fns[i]);
		for (size_t s = 0; s < json_array_size(srcs); s++) {
			json_t *hooks = json_object_get(json_array_get(srcs, s), "hooks");

			for (size_t h = 0; h < json_array_size(hooks); h++) {
				json_t *c = json_object_get(json_array_get(hooks, h), "candidates");

				for (size_t k = 0; k < json_array_size(c); k++) {
					json_t *cand = json_array_get(c, k);

					if (strcmp(jstr(cand, "target"), fns[i]))
						continue;
					if (!strcmp(jstr(cand, "reason"), reason) && have[i])
						boff += snprintf(bad + boff, sizeof(bad) - boff,
							" refused %s as absent, kallsyms has it;",
							fns[i]);
					if (json_is_true(json_object_get(cand, "ok")) && !have[i])
						boff += snprintf(bad + boff, sizeof(bad) - boff,
							" chose %s, kallsyms lacks it;", fns[i]);
				}
			}
		}
	}
	off += snprintf(figures + off, sizeof(figures) - off, "kallsyms:");
	for (int i = 0; i < nfns; i++)
		off += snprintf(figures + off, sizeof(figures) - off, "%s%s=%d", i ? "," : "",
				fns[i], have[i]);
	if (strcmp(jstr(p, "vendor"), "kvm_amd") || !json_is_true(json_object_get(p, "kprobes")) ||
	    !json_is_true(json_object_get(p, "btf")))
		boff += snprintf(bad + boff, sizeof(bad) - boff, " vendor/kprobes/btf wrong;");
	if (npt != npt_on())
		boff += snprintf(bad + boff, sizeof(bad) - boff, " paging %s disagrees with npt;",
				 jstr(p, "paging"));
	result(v, "probe", boff ? "fail" : "pass", "paging=%s %s%s%s", jstr(p, "paging"), figures,
	       boff ? " MISMATCH:" : "", bad);

	/* SPP: never merged, so absent, with the reason, and truly absent */
	spp = probe_hook(p, "spp");
	ok = spp && json_is_null(json_object_get(spp, "chosen")) &&
	     strstr(jstr(spp, "skipped"), "SPP not present") && !json_is_true(json_object_get(p,
	     "spp")) && !have[nfns - 1] && !tracepoint_exists("kvm", "kvm_spp_induced_exit");
	result(v, "probe_spp", ok ? "pass" : "fail", "spp=%s handle_spp_in_kallsyms=%d "
	       "kvm_spp_induced_exit_tracepoint=%d reason=\"%s\"",
	       json_is_true(json_object_get(p, "spp")) ? "present" : "absent", have[nfns - 1],
	       tracepoint_exists("kvm", "kvm_spp_induced_exit"), spp ? jstr(spp, "skipped") : "");
	json_decref(p);
	return v->failed;
}

/* ---- aging ---- */

struct verdict {
	uint64_t tp, fp, fn;
	double precision, recall;
	uint64_t aged_gfns, checks, young, young_gfns;
};

static void hot_verdict(const struct truth *t, const struct heat *h, struct verdict *r)
{
	memset(r, 0, sizeof(*r));
	for (uint64_t g = 0; g < t->npages; g++) {
		bool said = h->young[g] >= KHVT_HOT_YOUNG;

		r->tp += said && t->hot[g];
		r->fp += said && !t->hot[g];
		r->fn += !said && t->hot[g];
		r->aged_gfns += h->aged[g] > 0;
		r->young_gfns += h->young[g] > 0;
	}
	r->checks = sum(h->aged, t->npages);
	r->young = sum(h->young, t->npages);
	r->precision = ratio(r->tp, r->tp + r->fp);
	r->recall = ratio(r->tp, r->tp + r->fn);
}

static const char *const aging_methods[] = { "fentry", "kprobe", "tracepoint" };

static int cmd_aging(struct khvt *v, char **paths)
{
	struct heat h[3];
	struct verdict r[3];
	struct truth t;
	bool npt = npt_on();
	json_t *passes;
	int m;

	if (truth_load(v, "aging_fentry", paths[0], &t))
		return 1;
	passes = json_object_get(json_object_get(t.root, "squeeze"), "passes");
	printf("KHVT info %s aging truth: %zu touched pages (%zu hot, %zu cold), %zu reclaim "
	       "passes, cgroup v%lld\n", v->tag, t.ntouched, t.nhot, t.ntouched - t.nhot,
	       json_array_size(passes), (long long)jint(json_object_get(t.root, "squeeze"),
							 "cgroup_version"));
	for (size_t i = 0; i < json_array_size(passes); i++) {
		json_t *ps = json_array_get(passes, i);

		printf("KHVT info %s reclaim pass %zu after phase %lld: %lld -> %lld bytes%s\n",
		       v->tag, i + 1, (long long)jint(ps, "after_phase"),
		       (long long)jint(ps, "usage_before"), (long long)jint(ps, "usage_after"),
		       json_is_true(json_object_get(ps, "ok")) ? "" : " (failed)");
	}
	for (m = 0; m < 3; m++) {
		char check[64];
		uint64_t no_vm;

		snprintf(check, sizeof(check), "aging_%s", aging_methods[m]);
		if (heat_load(v, check, paths[1 + m], &t, &h[m]))
			return 1;
		hot_verdict(&t, &h[m], &r[m]);
		no_vm = jint(h[m].stats[KH_SRC_AGING], "no_vm");
		/* Shadow paging has no per-spte aging tracepoint: the HVA
		 * tracepoints say what was aged, never whether it was young. */
		if (m == 2 && !npt) {
			bool ok = r[m].aged_gfns > 0 && h[m].stray_aged == 0 && r[m].young == 0;

			result(v, check, ok ? "pass" : "fail", "hooks=%s aged_gfns=%" PRIu64
			       " checks=%" PRIu64 " stray=%" PRIu64 " young=%" PRIu64
			       " (young is not observable by tracepoint under shadow paging: "
			       "no per-spte event)",
			       h[m].hooks[KH_SRC_AGING], r[m].aged_gfns, r[m].checks,
			       h[m].stray_aged, r[m].young);
			continue;
		}
		result(v, check, r[m].precision >= KHVT_MIN_PR && r[m].recall >= KHVT_MIN_PR &&
		       h[m].stray_aged == 0 && r[m].aged_gfns > 0 ? "pass" : "fail",
		       "hooks=%s hot-set precision=%.4f recall=%.4f (tp %" PRIu64 " fp %" PRIu64
		       " fn %" PRIu64 ", hot = young in >= %d passes) aged_gfns=%" PRIu64
		       " checks=%" PRIu64 " young=%" PRIu64 " idle=%" PRIu64 " stray=%" PRIu64
		       " no_vm=%" PRIu64, h[m].hooks[KH_SRC_AGING], r[m].precision, r[m].recall,
		       r[m].tp, r[m].fp, r[m].fn, KHVT_HOT_YOUNG, r[m].aged_gfns, r[m].checks,
		       r[m].young, r[m].checks - r[m].young, h[m].stray_aged, no_vm);
	}

	/* kprobe and tracepoint against fentry, gfn by gfn */
	for (m = 1; m < 3; m++) {
		uint64_t same = 0, same_aged = 0, n = 0;
		char check[64];
		bool ok;

		for (uint64_t g = 0; g < t.npages; g++) {
			if (!h[0].aged[g] && !h[m].aged[g])
				continue;
			n++;
			same += (h[0].young[g] >= KHVT_HOT_YOUNG) ==
				(h[m].young[g] >= KHVT_HOT_YOUNG);
			same_aged += (h[0].aged[g] > 0) == (h[m].aged[g] > 0);
		}
		snprintf(check, sizeof(check), "aging_agree_%s", aging_methods[m]);
		ok = n > 0 && ratio(same_aged, n) >= KHVT_AGREE &&
		     near(r[0].checks, r[m].checks, KHVT_TOTALS);
		if (m == 1 || npt)
			ok = ok && ratio(same, n) >= KHVT_AGREE &&
			     near(r[0].young, r[m].young, KHVT_TOTALS);
		result(v, check, ok ? "pass" : "fail", "vs fentry over %" PRIu64 " aged gfns: "
		       "same hot verdict %.4f, same aged set %.4f (want >= %.2f); checks %" PRIu64
		       " vs %" PRIu64 ", young %" PRIu64 " vs %" PRIu64 " (want within %.0f%%%s)",
		       n, ratio(same, n), ratio(same_aged, n), KHVT_AGREE, r[m].checks,
		       r[0].checks, r[m].young, r[0].young, KHVT_TOTALS * 100,
		       m == 2 && !npt ? "; young not compared: shadow paging" : "");
	}
	if (npt) {
		/* kvm_tdp_mmu_spte_changed during aging, in the per-gfn counts */
		uint64_t hot_young = 0;

		for (uint64_t g = 0; g < t.npages; g++)
			hot_young += t.hot[g] && h[2].young[g] > 0;
		result(v, "tdp_aging", strstr(h[2].hooks[KH_SRC_AGING],
			"tp_btf:kvm_tdp_mmu_spte_changed") && ratio(hot_young, t.nhot) >=
			KHVT_MIN_PR ? "pass" : "fail", "hooks=%s hot gfns with young from "
			"kvm_tdp_mmu_spte_changed: %" PRIu64 " of %zu; young gfns %" PRIu64,
			h[2].hooks[KH_SRC_AGING], hot_young, t.nhot, r[2].young_gfns);
	}
	for (m = 0; m < 3; m++)
		heat_free(&h[m]);
	truth_free(&t);
	return v->failed;
}

/* ---- faults (npt=1): kvm:kvm_page_fault gpas per gfn ---- */

static int cmd_faults(struct khvt *v, char **paths)
{
	uint64_t hit = 0, faulted = 0, wr_ok = 0;
	struct truth t;
	struct heat h;
	double precision, recall;
	bool ok;

	if (truth_load(v, "faults", paths[0], &t) || heat_load(v, "faults", paths[1], &t, &h))
		return 1;
	for (uint64_t g = 0; g < t.npages; g++) {
		faulted += h.faults[g] > 0;
		hit += h.faults[g] > 0 && t.touched[g];
		wr_ok += t.touched[g] && t.written[g] == (h.writes[g] > 0);
	}
	precision = ratio(hit, faulted);
	recall = ratio(hit, t.ntouched);
	ok = strstr(h.hooks[KH_SRC_WALK], "kvm_page_fault") && precision >= KHVT_MIN_PR &&
	     recall >= KHVT_MIN_PR && ratio(wr_ok, t.ntouched) >= KHVT_MIN_PR;
	result(v, "faults", ok ? "pass" : "fail", "hooks=%s data gfns with faults %" PRIu64
	       ", touched %zu: precision=%.4f recall=%.4f; written/read right for %" PRIu64
	       " of %zu; faults in data slot %" PRIu64 ", gfns outside it %" PRIu64,
	       h.hooks[KH_SRC_WALK], faulted, t.ntouched, precision, recall, wr_ok, t.ntouched,
	       sum(h.faults, t.npages), h.outside);
	heat_free(&h);
	truth_free(&t);
	return v->failed;
}

/* ---- page-track writes (npt=0) ---- */

static const char *const track_methods[] = { "fentry", "kprobe" };

/* Sub-page write counts kvmheat reported for @gfn (all 32), 0 if none. */
static void subpage_counts(json_t *gfns, uint64_t gfn, uint64_t out[KH_SUBPAGES])
{
	memset(out, 0, KH_SUBPAGES * sizeof(*out));
	for (size_t i = 0; i < json_array_size(gfns); i++) {
		json_t *e = json_array_get(gfns, i), *sp;

		if ((uint64_t)jint(e, "gfn") != gfn)
			continue;
		sp = json_object_get(e, "subpage_writes");
		for (int s = 0; s < KH_SUBPAGES; s++)
			out[s] = json_integer_value(json_array_get(sp, s));
	}
}

static uint64_t tracked_of(json_t *gfns, uint64_t gfn)
{
	for (size_t i = 0; i < json_array_size(gfns); i++)
		if ((uint64_t)jint(json_array_get(gfns, i), "gfn") == gfn)
			return jint(json_array_get(gfns, i), "tracked");
	return 0;
}

/* Each write kvmheat streamed against the entry the guest rewrote: gpa to the byte. */
static void cmd_track_bytes(struct khvt *v, json_t *ptw, const char *path)
{
	uint64_t written = 0, exact = 0, stray = 0, entries_ok = 0;
	char detail[512] = "";
	size_t doff = 0;
	json_t *root = load(v, "track_events", path), *evs;

	if (!root)
		return;
	evs = json_object_get(root, "events");
	for (size_t i = 0; i < json_array_size(ptw); i++) {
		json_t *e = json_array_get(ptw, i);
		uint64_t gpa = jint(e, "gpa"), n = 0;

		written += jint(e, "count");
		for (size_t k = 0; k < json_array_size(evs); k++) {
			json_t *ev = json_array_get(evs, k);

			n += (uint64_t)jint(ev, "gpa") == gpa &&
			     jint(ev, "bytes") == jint(e, "bytes");
		}
		exact += n;
		entries_ok += n == (uint64_t)jint(e, "count");
		doff += snprintf(detail + doff, sizeof(detail) - doff, "%s0x%" PRIx64 "+%lld:%"
				 PRIu64 "/%lld", doff ? "," : "", gpa >> KH_PAGE_SHIFT,
				 (long long)jint(e, "offset"), n, (long long)jint(e, "count"));
	}
	stray = json_array_size(evs) - exact;
	result(v, "track_events", exact == written && stray == 0 &&
	       entries_ok == json_array_size(ptw) && written > 0 ? "pass" : "fail",
	       "hooks=%s writes streamed %zu, at the written gpa and length %" PRIu64 " of %"
	       PRIu64 " (gfn+byte offset:seen/written %s); elsewhere %" PRIu64,
	       jstr(root, "hooks"), json_array_size(evs), exact, written, detail, stray);
	json_decref(root);
}

static int cmd_track(struct khvt *v, char **paths)
{
	struct truth t;
	json_t *ptw;

	if (truth_load(v, "track_fentry", paths[0], &t))
		return 1;
	ptw = json_object_get(t.root, "pt_writes");
	for (int m = 0; m < 2; m++) {
		uint64_t written = 0, seen = 0, stray = 0, gfn_ok = 0, sp_ok = 0, nsp = 0;
		char check[64], detail[512] = "";
		size_t doff = 0;
		struct heat h;

		snprintf(check, sizeof(check), "track_%s", track_methods[m]);
		if (heat_load(v, check, paths[1 + m], &t, &h))
			return 1;
		/* expected per gfn and per sub-page, from the written entries */
		for (size_t i = 0; i < json_array_size(ptw); i++) {
			json_t *e = json_array_get(ptw, i);
			uint64_t gfn = jint(e, "gfn"), want = 0, wsp[KH_SUBPAGES] = { 0 };
			uint64_t got[KH_SUBPAGES];
			bool first = true;

			written += jint(e, "count");
			for (size_t k = 0; k < json_array_size(ptw); k++) {
				json_t *o = json_array_get(ptw, k);

				if ((uint64_t)jint(o, "gfn") != gfn)
					continue;
				first &= k >= i;
				want += jint(o, "count");
				wsp[(jint(o, "offset") >> KH_SUBPAGE_SHIFT) & (KH_SUBPAGES - 1)] +=
					jint(o, "count");
			}
			if (!first)
				continue;	/* each gfn once */
			subpage_counts(h.gfns, gfn, got);
			gfn_ok += tracked_of(h.gfns, gfn) == want;
			for (int s = 0; s < KH_SUBPAGES; s++) {
				if (!wsp[s] && !got[s])
					continue;
				nsp++;
				sp_ok += wsp[s] == got[s];
				doff += snprintf(detail + doff, sizeof(detail) - doff,
						 "%s0x%" PRIx64 "/%d:%" PRIu64 "/%" PRIu64,
						 doff ? "," : "", gfn, s, got[s], wsp[s]);
			}
		}
		for (size_t i = 0; i < json_array_size(h.gfns); i++) {
			json_t *e = json_array_get(h.gfns, i);
			bool known = false;

			seen += jint(e, "tracked");
			for (size_t k = 0; k < json_array_size(ptw) && !known; k++)
				known = jint(json_array_get(ptw, k), "gfn") == jint(e, "gfn");
			stray += !known && jint(e, "tracked");
		}
		{
			size_t ngfn = 0;

			for (size_t i = 0; i < json_array_size(ptw); i++) {
				bool dup = false;

				for (size_t k = 0; k < i; k++)
					dup |= jint(json_array_get(ptw, k), "gfn") ==
					       jint(json_array_get(ptw, i), "gfn");
				ngfn += !dup;
			}
			result(v, check, seen == written && gfn_ok == ngfn && sp_ok == nsp &&
			       stray == 0 && written > 0 ? "pass" : "fail",
			       "hooks=%s tracked writes seen %" PRIu64 " vs written %" PRIu64
			       "; right count for %" PRIu64 " of %zu page-table gfns, %" PRIu64
			       " of %" PRIu64 " sub-pages right (gfn/sub-page:seen/written %s); "
			       "stray gfns %" PRIu64, h.hooks[KH_SRC_TRACK], seen, written, gfn_ok,
			       ngfn, sp_ok, nsp, detail, stray);
		}
		heat_free(&h);
	}
	cmd_track_bytes(v, ptw, paths[3]);
	truth_free(&t);
	return v->failed;
}

/* ---- the event stream: every tracked write with its byte address ---- */

static int on_event(void *ctx, void *data, size_t len)
{
	const struct kh_event *e = data;

	if (len < sizeof(*e) || e->hdr.type != KH_REC_EVENT)
		return 0;
	/* ts_ns: the real-guest stage keeps only writes inside its workload's window */
	json_array_append_new(ctx, json_pack("{s:I, s:i, s:i, s:i, s:I}", "gpa", (json_int_t)e->gpa,
					     "bytes", e->bytes, "kind", e->kind, "vcpu", e->vcpu,
					     "ts_ns", (json_int_t)e->ts_ns));
	return 0;
}

/*
 * kvmheat's BPF side with its ring buffer on (struct kh_event), through the
 * same session code the commands use: heat -j only keeps per-gfn and
 * per-sub-page counts, the stream keeps each write's gpa to the byte.
 */
static int cmd_events(const char *pidstr)
{
	struct kh_session_opts so = {
		.sources = 1U << KH_SRC_TRACK, .events = true,
		.filter = { .sources = 1U << KH_SRC_TRACK },
	};
	struct kh_opts o = { .json = false };
	struct kh_session s;
	struct ring_buffer *rb = NULL;
	json_t *evs = json_array();
	int err;

	if (kh_parse_pid(pidstr, &so.pid))
		return kh_err(&o, KH_EXIT_USAGE, "events: bad pid '%s'", pidstr);
	err = kh_cli_start(&s, &so, &o);
	if (!err) {
		rb = ring_buffer__new(bpf_map__fd(s.skel->maps.events), on_event, evs, NULL);
		if (!rb)
			err = kh_err(&o, KH_EXIT_ERROR, "events: ring buffer: %s", strerror(errno));
	}
	if (!err) {
		char d[256];
		json_t *root;

		kh_source_desc(&s.probe, KH_SRC_TRACK, d, sizeof(d));
		fprintf(stderr, "khvt: tracing track=%s\n", d);
		/* until the VM is gone, then drain what is left */
		while (!kill((pid_t)so.pid, 0) && !kh_exiting)
			ring_buffer__poll(rb, 100);
		ring_buffer__consume(rb);
		root = json_pack("{s:s, s:O}", "hooks", d, "events", evs);

		json_dumpf(root, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(root);
	}
	ring_buffer__free(rb);
	json_decref(evs);
	kh_session_close(&s);
	return err;
}

/* ---- THP-backed guest memory: aging at 2 MiB ---- */

/*
 * khguest --thp, contiguous layout: the hot set fills whole 2 MiB regions,
 * the cold set others.  KVM ages a huge page 512 gfns at a time; once
 * reclaim splits one, its pages are aged one by one.  So the truth is
 * judged at the granularity kvmheat reports for each region: a region seen
 * only as a 2 MiB cell is one unit (hot if it holds hot pages, said hot if
 * the cell was young in >= KHVT_HOT_YOUNG passes); in a region also aged
 * at 4 KiB every touched page is a unit, as in the 4 KiB aging check.
 */
static int cmd_thp(struct khvt *v, char **paths)
{
	uint64_t tp = 0, fp = 0, fn = 0, cells = 0, cell2m = 0, coarse_units = 0, fine_units = 0;
	uint64_t nreg;
	json_t *cc, *ag;
	struct truth t;
	struct heat h;
	bool *hot_r, *coarse_r, *said;

	if (truth_load(v, "aging_thp", paths[0], &t))
		return 1;
	if (heat_load(v, "aging_thp", paths[1], &t, &h))
		return 1;
	cc = json_object_get(h.vm, "coarse_cells");
	if (!jint(t.root, "anon_huge_kib")) {
		result(v, "aging_thp", "skip", "khguest got no transparent huge pages "
		       "(AnonHugePages 0 at every phase end): nothing aged at 2 MiB to check; "
		       "kvmheat saw %zu coarse cells", json_array_size(cc));
		heat_free(&h);
		truth_free(&t);
		return 0;
	}
	nreg = (t.npages + KH_REGION_GFNS - 1) / KH_REGION_GFNS;
	hot_r = calloc(nreg, 1);
	coarse_r = calloc(nreg, 1);
	said = calloc(nreg, 1);
	for (uint64_t g = 0; g < t.npages; g++)
		hot_r[g / KH_REGION_GFNS] |= t.hot[g];
	for (size_t i = 0; i < json_array_size(cc); i++) {
		json_t *c = json_array_get(cc, i);
		uint64_t r = (jint(c, "gfn") - t.base) / KH_REGION_GFNS;

		if ((uint64_t)jint(c, "gfn") < t.base || r >= nreg)
			continue;
		cells++;
		cell2m += jint(c, "cell_pages") == KH_REGION_GFNS;
		coarse_r[r] = !jint(c, "fine_checks");	/* only ever seen as a cell */
		printf("KHVT info %s thp region %" PRIu64 " (%s): cell of %lld pages, %lld checks, "
		       "%lld young, %lld checks at 4 KiB\n", v->tag, r, hot_r[r] ? "hot" : "cold",
		       (long long)jint(c, "cell_pages"), (long long)jint(c, "checks"),
		       (long long)jint(c, "young"), (long long)jint(c, "fine_checks"));
		said[r] = jint(c, "young") >= KHVT_HOT_YOUNG;
	}
	for (uint64_t r = 0; r < nreg; r++) {
		if (coarse_r[r]) {
			coarse_units++;
			tp += said[r] && hot_r[r];
			fp += said[r] && !hot_r[r];
			fn += !said[r] && hot_r[r];
			continue;
		}
		for (uint64_t g = r * KH_REGION_GFNS; g < (r + 1) * KH_REGION_GFNS &&
		     g < t.npages; g++) {
			bool s4 = h.young[g] >= KHVT_HOT_YOUNG;

			if (!t.touched[g])
				continue;
			fine_units++;
			tp += s4 && t.hot[g];
			fp += s4 && !t.hot[g];
			fn += !s4 && t.hot[g];
		}
	}
	ag = json_object_get(h.vm, "aging_granularity");
	result(v, "aging_thp", cells && cell2m == cells && ratio(tp, tp + fp) >= KHVT_MIN_PR &&
	       ratio(tp, tp + fn) >= KHVT_MIN_PR && h.stray_aged == 0 ? "pass" : "fail",
	       "hooks=%s AnonHugePages=%lld KiB; %" PRIu64 " cells (%" PRIu64 " of 2 MiB), "
	       "largest %lld bytes, aged only as cells %lld bytes; at the reported granularity "
	       "(%" PRIu64 " 2 MiB cells, %" PRIu64 " 4 KiB pages of split huge pages): "
	       "precision=%.4f recall=%.4f (tp %" PRIu64 " fp %" PRIu64 " fn %" PRIu64 ") "
	       "stray=%" PRIu64, h.hooks[KH_SRC_AGING], (long long)jint(t.root, "anon_huge_kib"),
	       cells, cell2m, (long long)jint(ag, "largest_cell_bytes"),
	       (long long)jint(ag, "coarse_only_bytes"), coarse_units, fine_units,
	       ratio(tp, tp + fp), ratio(tp, tp + fn), tp, fp, fn, h.stray_aged);
	free(hot_r);
	free(coarse_r);
	free(said);
	heat_free(&h);
	truth_free(&t);
	return v->failed;
}

/* ---- QEMU exit ---- */

static int cmd_exit(const char *code)
{
	/* isa-debug-exit: QEMU exits with (value << 1) | 1 */
	if (ioperm(KHVT_EXIT_PORT, 4, 1)) {
		fprintf(stderr, "khvt: ioperm 0x%x: %s\n", KHVT_EXIT_PORT, strerror(errno));
		return 1;
	}
	outl((unsigned int)strtoul(code, NULL, 0), KHVT_EXIT_PORT);
	return 0;
}

int main(int argc, char **argv)
{
	struct khvt v = { .tag = getenv("KHVT_TAG") };

	if (!v.tag)
		v.tag = "local";
	if (argc == 3 && !strcmp(argv[1], "exit"))
		return cmd_exit(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "probe"))
		return cmd_probe(&v, argv[2]);
	if (argc == 6 && !strcmp(argv[1], "aging"))
		return cmd_aging(&v, argv + 2);
	if (argc == 4 && !strcmp(argv[1], "thp"))
		return cmd_thp(&v, argv + 2);
	if (argc == 4 && !strcmp(argv[1], "faults"))
		return cmd_faults(&v, argv + 2);
	if (argc == 6 && !strcmp(argv[1], "track"))
		return cmd_track(&v, argv + 2);
	if (argc == 4 && !strcmp(argv[1], "events") && !strcmp(argv[2], "-p"))
		return cmd_events(argv[3]);
	fprintf(stderr, "usage: khvt probe|aging|thp|faults|track|events|exit ... "
		"(see tools/vmtest/khvt.c)\n");
	return 2;
}
