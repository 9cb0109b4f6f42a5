// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `kvmheat export`, library layer: snapshots and their exposition.
 *
 * The BPF maps are drained every interval (as top does), so per-VM
 * counters are kept here, summed over intervals, keyed by pid and struct
 * kvm address.  A snapshot holds only VMs present at its sample, which is
 * what makes an exited VM's series disappear from the next scrape instead
 * of lingering.  Cardinality is bounded by the number of VMs: there are
 * never per-gfn series; the per-page distribution is a fixed-bucket
 * histogram per VM.
 *
 * Formats (prometheus.io "Exposition formats", the OpenMetrics 1.0
 * specification): both put a family's HELP and TYPE before its samples
 * and escape label values the same way (\\, \", \n).  They differ in how
 * a counter family is named (0.0.4: with the _total of its sample;
 * OpenMetrics: without), in HELP escaping (OpenMetrics also escapes "),
 * in histogram le values (OpenMetrics wants canonical floats, "1.0") and
 * in OpenMetrics' closing "# EOF".  *_info metrics are gauges in both,
 * because Prometheus 2.42's text parser (promtool) rejects the info type.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>
#include "export.h"

void kh_exp_domain(const struct kh_vm *vm, char *buf, size_t len)
{
	/* VM names (QEMU's -name) are not known yet: the pid is the identity. */
	snprintf(buf, len, "pid-%u", vm->pid);
}

/* ---- content negotiation ---- */

/* @s[0..n) equals @lit, ignoring case. */
static bool kh_tok_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && !strncasecmp(s, lit, n);
}

static const char *kh_skip_ws(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	return s;
}

/* One media range's parameters: q (default 1) and version (NULL: absent). */
static void kh_accept_params(const char *p, const char *end, double *q, const char **ver,
			     size_t *verlen)
{
	*q = 1;
	*ver = NULL;
	*verlen = 0;
	while (p < end) {
		const char *k, *eq, *v, *stop = memchr(p, ';', end - p);
		size_t vl;

		if (!stop)
			stop = end;
		k = kh_skip_ws(p, stop);
		eq = memchr(k, '=', stop - k);
		p = stop + 1;
		if (!eq)
			continue;
		v = kh_skip_ws(eq + 1, stop);
		vl = stop - v;
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
			v++;
			vl -= 2;
		}
		if (kh_tok_eq(k, eq - k, "q")) {
			char num[16];

			snprintf(num, sizeof(num), "%.*s", (int)(vl < 15 ? vl : 15), v);
			*q = strtod(num, NULL);
		} else if (kh_tok_eq(k, eq - k, "version")) {
			*ver = v;
			*verlen = vl;
		}
	}
}

/*
 * Highest q wins; a tie goes to the range listed first.  A header that
 * accepts neither format gets the text format, as Prometheus' own
 * clients do, rather than 406.
 */
enum kh_exp_fmt kh_exp_negotiate(const char *accept)
{
	double best_q = 0;
	enum kh_exp_fmt best = KH_EXP_TEXT;
	const char *p = accept;

	while (p && *p) {
		const char *end = strchr(p, ','), *type, *semi, *ver;
		size_t tl, vl;
		double q;
		int fmt = -1;

		if (!end)
			end = p + strlen(p);
		type = kh_skip_ws(p, end);
		semi = memchr(type, ';', end - type);
		tl = (semi ? semi : end) - type;
		while (tl && (type[tl - 1] == ' ' || type[tl - 1] == '\t'))
			tl--;
		kh_accept_params(semi ? semi + 1 : end, end, &q, &ver, &vl);
		if (kh_tok_eq(type, tl, "application/openmetrics-text") &&
		    (!ver || kh_tok_eq(ver, vl, "1.0.0")))
			fmt = KH_EXP_OPENMETRICS;
		else if ((kh_tok_eq(type, tl, "text/plain") && (!ver || kh_tok_eq(ver, vl, "0.0.4"))) ||
			 kh_tok_eq(type, tl, "text/*") || kh_tok_eq(type, tl, "*/*"))
			fmt = KH_EXP_TEXT;
		if (fmt >= 0 && q > best_q) {
			best_q = q;
			best = fmt;
		}
		p = *end ? end + 1 : end;
	}
	return best;
}

/* ---- folding one interval into a snapshot ---- */

int kh_exp_bucket(uint64_t v)
{
	int b = v <= 1 ? 0 : kh_log2_slot(v - 1) + 1;

	return b < KH_EXP_BUCKETS ? b : KH_EXP_BUCKETS;
}

static int kh_exp_vm_cmp(const void *a, const void *b)
{
	const struct kh_exp_vm *x = a, *y = b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static struct kh_exp_vm *kh_exp_find(const struct kh_exp_snap *s, uint32_t pid)
{
	struct kh_exp_vm key = { .pid = pid };

	return s && s->n ? bsearch(&key, s->vms, s->n, sizeof(key), kh_exp_vm_cmp) : NULL;
}

/* The VM list of @next, sorted by pid, with @prev's running totals. */
static int kh_exp_vms(struct kh_exp_snap *next, const struct kh_exp_snap *prev,
		      const struct kh_vmset *vms, const struct kh_top_row *rows, size_t n)
{
	next->vms = calloc(n ? n : 1, sizeof(*next->vms));
	if (!next->vms)
		return -ENOMEM;
	next->n = n;
	for (size_t i = 0; i < n; i++) {
		struct kh_exp_vm *v = &next->vms[i];
		const struct kh_vm *vm = NULL;
		const struct kh_exp_vm *old;

		for (size_t j = 0; j < vms->n && !vm; j++)
			if (vms->vms[j].pid == rows[i].pid)
				vm = &vms->vms[j];
		v->pid = rows[i].pid;
		v->kvm = vm->kvm;
		kh_exp_domain(vm, v->domain, sizeof(v->domain));
		snprintf(v->comm, sizeof(v->comm), "%s", rows[i].comm);
		v->nr_vcpus = rows[i].nr_vcpus;
		v->mem_bytes = rows[i].mem_bytes;
		v->wset_pages = rows[i].wset;
		old = kh_exp_find(prev, v->pid);
		/* same pid, other struct kvm: a new VM, whose counters start at 0 */
		if (old && old->kvm == v->kvm) {
			v->tot = old->tot;
			memcpy(v->hist, old->hist, sizeof(v->hist));
			v->hist_sum = old->hist_sum;
			v->hist_count = old->hist_count;
		}
		kh_counts_add(&v->tot, &rows[i].c);
	}
	qsort(next->vms, n, sizeof(*next->vms), kh_exp_vm_cmp);
	return 0;
}

int kh_exp_fold(struct kh_exp_snap *next, const struct kh_exp_snap *prev,
		const struct kh_vmset *vms, uint32_t pid, const struct kh_key *rk,
		const struct kh_region *rv, size_t nr, const struct kh_key *gk,
		const struct kh_counts *gv, size_t ng)
{
	struct kh_top_row *rows = calloc(vms->n ? vms->n : 1, sizeof(*rows));
	size_t n;
	int err;

	if (!rows)
		return -ENOMEM;
	/* region counters see everything, long aging ranges included */
	n = kh_top_rows(vms, pid, rk, rv, nr, NULL, 0, rows);
	err = kh_exp_vms(next, prev, vms, rows, n);
	free(rows);
	if (err)
		return err;
	for (size_t i = 0; i < ng; i++) {
		struct kh_exp_vm *v = gv[i].accesses ? kh_exp_find(next, gk[i].pid) : NULL;

		if (!v)
			continue;	/* not accessed, or its VM exited */
		v->hist[kh_exp_bucket(gv[i].accesses)]++;
		v->hist_sum += gv[i].accesses;
		v->hist_count++;
	}
	return 0;
}

void kh_exp_snap_free(struct kh_exp_snap *s)
{
	free(s->vms);
	s->vms = NULL;
	s->n = 0;
}

/* ---- rendering ---- */

/* Length of the valid UTF-8 sequence at @s, or 0 (exposition text must be UTF-8). */
static int kh_utf8_len(const unsigned char *s)
{
	int n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 :
		(s[0] & 0xf8) == 0xf0 ? 4 : 0;

	if (n == 2 && s[0] < 0xc2)
		return 0;	/* overlong */
	for (int i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/*
 * @s escaped for a label value (@quote: also ") or HELP text; a byte
 * that is not valid UTF-8 becomes '?', so a VM name cannot break a parser.
 */
static void kh_exp_escape(FILE *f, const char *s, bool quote)
{
	while (*s) {
		int n = kh_utf8_len((const unsigned char *)s);

		if (!n) {
			fputc('?', f);
			s++;
			continue;
		}
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '"' && quote)
			fputs("\\\"", f);
		else
			fwrite(s, 1, n, f);
		s += n;
	}
}

struct kh_exp_out {
	FILE *f;
	enum kh_exp_fmt fmt;
};

static void kh_exp_family(const struct kh_exp_out *w, const char *name, const char *type,
			  const char *help)
{
	bool om = w->fmt == KH_EXP_OPENMETRICS;
	const char *sfx = !om && !strcmp(type, "counter") ? "_total" : "";

	fprintf(w->f, "# HELP %s%s ", name, sfx);
	kh_exp_escape(w->f, help, om);
	fprintf(w->f, "\n# TYPE %s%s %s\n", name, sfx, type);
}

/* name[_total]{labels} — @labels: NULL-terminated key, value pairs. */
static void kh_exp_name(const struct kh_exp_out *w, const char *name, const char *sfx,
			const char *const *labels)
{
	fprintf(w->f, "%s%s", name, sfx);
	for (int i = 0; labels && labels[i]; i += 2) {
		fprintf(w->f, "%c%s=\"", i ? ',' : '{', labels[i]);
		kh_exp_escape(w->f, labels[i + 1], true);
		fputc('"', w->f);
	}
	if (labels && labels[0])
		fputc('}', w->f);
}

static void kh_exp_u64(const struct kh_exp_out *w, const char *name, const char *sfx,
		       const char *const *labels, uint64_t v)
{
	kh_exp_name(w, name, sfx, labels);
	fprintf(w->f, " %" PRIu64 "\n", v);
}

static void kh_exp_dbl(const struct kh_exp_out *w, const char *name, const char *sfx,
		       const char *const *labels, double v)
{
	kh_exp_name(w, name, sfx, labels);
	fprintf(w->f, " %.9g\n", v);
}

static void kh_exp_render_self(const struct kh_exp_out *w, const struct kh_exp_snap *s)
{
	const char *bl[] = { "version", s->version, "kernel", s->kernel, NULL };

	kh_exp_family(w, "kvmheat_build_info", "gauge", "kvmheat version and the running "
		      "kernel release; always 1.");
	kh_exp_u64(w, "kvmheat_build_info", "", bl, 1);
	kh_exp_family(w, "kvmheat_up", "gauge", "1 if the last sampling interval read the "
		      "BPF maps; 0 if it failed (per-VM values are then from the last good one).");
	kh_exp_u64(w, "kvmheat_up", "", NULL, s->up);
	kh_exp_family(w, "kvmheat_sample_interval_seconds", "gauge", "Length of a sampling "
		      "interval: the window of every per-interval gauge and of the histogram.");
	kh_exp_dbl(w, "kvmheat_sample_interval_seconds", "", NULL, s->interval);
	kh_exp_family(w, "kvmheat_sample_duration_seconds", "gauge", "Seconds the last sample "
		      "took (draining the BPF maps, rediscovering VMs).");
	kh_exp_dbl(w, "kvmheat_sample_duration_seconds", "", NULL, s->sample_seconds);
	kh_exp_family(w, "kvmheat_samples", "counter", "Sampling intervals completed.");
	kh_exp_u64(w, "kvmheat_samples", "_total", NULL, s->samples);
	kh_exp_family(w, "kvmheat_bpf_map_bytes", "gauge", "Kernel memory of kvmheat's BPF "
		      "maps at the last sample.");
	kh_exp_u64(w, "kvmheat_bpf_map_bytes", "", NULL, s->map_bytes);
	kh_exp_family(w, "kvmheat_domains", "gauge", "VMs watched at the last sample.");
	kh_exp_u64(w, "kvmheat_domains", "", NULL, s->n);
	if (!s->cost_on)
		return;		/* the kernel counts nothing without bpf_stats */
	kh_exp_family(w, "kvmheat_bpf_runs", "counter", "Runs of kvmheat's BPF programs "
		      "(counted while kernel.bpf_stats_enabled=1).");
	kh_exp_u64(w, "kvmheat_bpf_runs", "_total", NULL, s->bpf_runs);
	kh_exp_family(w, "kvmheat_bpf_run_seconds", "counter", "CPU time in kvmheat's BPF "
		      "programs (counted while kernel.bpf_stats_enabled=1).");
	kh_exp_dbl(w, "kvmheat_bpf_run_seconds", "_total", NULL, s->bpf_ns / 1e9);
}

static void kh_exp_render_sources(const struct kh_exp_out *w, const struct kh_exp_snap *s)
{
	static const struct { const char *name, *help; } fam[] = {
		{ "kvmheat_source_info", "Event sources asked for; method is the attach method "
		  "chosen (none: cannot attach here), hooks the kernel hooks; always 1." },
		{ "kvmheat_events", "Hook invocations per event source since the exporter "
		  "started." },
		{ "kvmheat_events_lost", "Events per source that could not be counted (map full, "
		  "walk element without its walk, ring buffer full) since the exporter started." },
	};

	for (int k = 0; k < 3; k++) {
		kh_exp_family(w, fam[k].name, k ? "counter" : "gauge", fam[k].help);
		for (int src = 0; src < KH_SRC_MAX; src++) {
			const struct kh_exp_src *x = &s->src[src];
			const char *info[] = { "source", kh_source_name(src), "method", x->method,
					       "hooks", x->hooks, NULL };
			const char *lab[] = { "source", kh_source_name(src), NULL };

			if (!x->requested)
				continue;
			if (!k)
				kh_exp_u64(w, fam[k].name, "", info, 1);
			else
				kh_exp_u64(w, fam[k].name, "_total", lab,
					   k == 1 ? x->events : x->lost);
		}
	}
}

enum kh_exp_field {
	KH_EF_VCPUS, KH_EF_MEM, KH_EF_ACC, KH_EF_WR, KH_EF_FAULT, KH_EF_AGED, KH_EF_YOUNG,
	KH_EF_TRACK, KH_EF_SPP, KH_EF_WSET
};

/* Per-VM families, one sample each per VM; each HELP says its window. */
static const struct {
	const char *name, *type, *help;
	enum kh_exp_field field;
} kh_exp_vmfams[] = {
	{ "kvmheat_domain_vcpus", "gauge", "Online vCPUs at the last sample.", KH_EF_VCPUS },
	{ "kvmheat_guest_memory_bytes", "gauge", "Guest memory in the VM's memslots (address "
	  "space 0) at the last sample.", KH_EF_MEM },
	{ "kvmheat_page_accesses", "counter", "Guest page access signals (walks, faults, young "
	  "aging results, tracked writes, SPP exits) since the exporter first saw the VM.",
	  KH_EF_ACC },
	{ "kvmheat_page_writes", "counter", "Guest page writes seen since the exporter first "
	  "saw the VM.", KH_EF_WR },
	{ "kvmheat_page_faults", "counter", "Two-dimensional paging (EPT/NPT) faults since the "
	  "exporter first saw the VM.", KH_EF_FAULT },
	{ "kvmheat_page_aging_checks", "counter", "Pages the kernel's aging checked since the "
	  "exporter first saw the VM (checks are not accesses).", KH_EF_AGED },
	{ "kvmheat_page_young", "counter", "Aging checks that found the page accessed (young) "
	  "since the exporter first saw the VM.", KH_EF_YOUNG },
	{ "kvmheat_pagetrack_writes", "counter", "Writes to write-tracked pages (page-track) "
	  "since the exporter first saw the VM.", KH_EF_TRACK },
	{ "kvmheat_spp_violations", "counter", "Sub-page write-protection violations since the "
	  "exporter first saw the VM.", KH_EF_SPP },
	{ "kvmheat_working_set_bytes", "gauge", "Bytes of distinct guest pages accessed in the "
	  "last sampling interval (window: kvmheat_sample_interval_seconds).", KH_EF_WSET },
};

static uint64_t kh_exp_value(const struct kh_exp_vm *v, enum kh_exp_field f)
{
	switch (f) {
	case KH_EF_VCPUS: return v->nr_vcpus;
	case KH_EF_MEM: return v->mem_bytes;
	case KH_EF_ACC: return v->tot.accesses;
	case KH_EF_WR: return v->tot.writes;
	case KH_EF_FAULT: return v->tot.faults;
	case KH_EF_AGED: return v->tot.aged;
	case KH_EF_YOUNG: return v->tot.young;
	case KH_EF_TRACK: return v->tot.tracked;
	case KH_EF_SPP: return v->tot.spp;
	case KH_EF_WSET: return v->wset_pages << KH_PAGE_SHIFT;
	}
	return 0;
}

#define KH_EXP_HIST "kvmheat_page_interval_accesses"

/* Classic histogram: cumulative buckets, +Inf equal to _count, then _sum. */
static void kh_exp_render_hist(const struct kh_exp_out *w, const struct kh_exp_vm *v)
{
	bool om = w->fmt == KH_EXP_OPENMETRICS;
	uint64_t cum = 0;
	char le[24];
	const char *lab[] = { "domain", v->domain, "le", le, NULL };

	for (int b = 0; b <= KH_EXP_BUCKETS; b++) {
		cum += v->hist[b];
		if (b == KH_EXP_BUCKETS)
			snprintf(le, sizeof(le), "+Inf");
		else
			snprintf(le, sizeof(le), "%llu%s", 1ULL << b, om ? ".0" : "");
		kh_exp_u64(w, KH_EXP_HIST, "_bucket", lab, cum);
	}
	lab[2] = NULL;
	kh_exp_u64(w, KH_EXP_HIST, "_sum", lab, v->hist_sum);
	kh_exp_u64(w, KH_EXP_HIST, "_count", lab, v->hist_count);
}

static void kh_exp_render_vms(const struct kh_exp_out *w, const struct kh_exp_snap *s)
{
	kh_exp_family(w, "kvmheat_domain_info", "gauge", "One series per VM watched at the last "
		      "sample; pid is its VMM process, comm that process's name; always 1.");
	for (size_t i = 0; i < s->n; i++) {
		const struct kh_exp_vm *v = &s->vms[i];
		char pid[16];
		const char *lab[] = { "domain", v->domain, "pid", pid, "comm", v->comm, NULL };

		snprintf(pid, sizeof(pid), "%u", v->pid);
		kh_exp_u64(w, "kvmheat_domain_info", "", lab, 1);
	}
	for (size_t k = 0; k < sizeof(kh_exp_vmfams) / sizeof(kh_exp_vmfams[0]); k++) {
		bool ctr = !strcmp(kh_exp_vmfams[k].type, "counter");

		kh_exp_family(w, kh_exp_vmfams[k].name, kh_exp_vmfams[k].type,
			      kh_exp_vmfams[k].help);
		for (size_t i = 0; i < s->n; i++) {
			const char *lab[] = { "domain", s->vms[i].domain, NULL };

			kh_exp_u64(w, kh_exp_vmfams[k].name, ctr ? "_total" : "", lab,
				   kh_exp_value(&s->vms[i], kh_exp_vmfams[k].field));
		}
	}
	kh_exp_family(w, KH_EXP_HIST, "histogram", "Per-page access counts over one sampling "
		      "interval: each interval observes every guest page accessed in it once "
		      "(pages not accessed are not observed); bounds are powers of two.");
	for (size_t i = 0; i < s->n; i++)
		kh_exp_render_hist(w, &s->vms[i]);
}

/*
 * Idle ages (--age-driver): only VMs a driver scanned get series, and
 * without one no family is written at all, so a dashboard tells "not
 * measured" from "nothing idle".
 */
static void kh_exp_render_idle(const struct kh_exp_out *w, const struct kh_exp_snap *s)
{
	size_t any = 0;

	for (size_t i = 0; i < s->n; i++)
		any += s->vms[i].idle.valid;
	if (!any)
		return;
	kh_exp_family(w, "kvmheat_idle_scan_interval_seconds", "gauge", "Seconds between "
		      "active aging scans (--age-driver): the unit of every idle age.");
	kh_exp_dbl(w, "kvmheat_idle_scan_interval_seconds", "", NULL, s->scan_interval);
	kh_exp_family(w, "kvmheat_idle_driver_info", "gauge", "The aging driver that scans the "
		      "VM (page_idle, mglru, damon: sampled, not per page); always 1.");
	for (size_t i = 0; i < s->n; i++) {
		const char *lab[] = { "domain", s->vms[i].domain, "driver",
				      kh_agedrv_name(s->vms[i].idle.driver), NULL };

		if (s->vms[i].idle.valid)
			kh_exp_u64(w, "kvmheat_idle_driver_info", "", lab, 1);
	}
	kh_exp_family(w, "kvmheat_idle_scans", "counter", "Aging scans of the VM since the "
		      "exporter started scanning it: the window of its idle figures.");
	for (size_t i = 0; i < s->n; i++) {
		const char *lab[] = { "domain", s->vms[i].domain, NULL };

		if (s->vms[i].idle.valid)
			kh_exp_u64(w, "kvmheat_idle_scans", "_total", lab, s->vms[i].idle.scans);
	}
	kh_exp_family(w, "kvmheat_idle_ratio", "gauge", "Share of the VM's pages with an idle "
		      "age that the last scan found idle (age >= 1: not accessed for at least one "
		      "scan interval); pages never aged are not counted.");
	for (size_t i = 0; i < s->n; i++) {
		const char *lab[] = { "domain", s->vms[i].domain, NULL };
		double pct = kh_idle_sum_pct(&s->vms[i].idle);

		if (pct >= 0)
			kh_exp_dbl(w, "kvmheat_idle_ratio", "", lab, pct / 100);
	}
	kh_exp_family(w, "kvmheat_cold_bytes", "gauge", "Bytes of guest pages not accessed for "
		      "at least min_age consecutive scans (window: min_age times "
		      "kvmheat_idle_scan_interval_seconds).");
	for (size_t i = 0; i < s->n; i++) {
		char age[8];
		const char *lab[] = { "domain", s->vms[i].domain, "min_age", age, NULL };

		if (!s->vms[i].idle.valid)
			continue;
		for (int k = 0; k < KH_IDLE_NCOLD; k++) {
			snprintf(age, sizeof(age), "%u", kh_idle_cold_age(k));
			kh_exp_u64(w, "kvmheat_cold_bytes", "", lab, s->vms[i].idle.cold_bytes[k]);
		}
	}
	kh_exp_family(w, "kvmheat_idle_working_set_bytes", "gauge", "Bytes of guest pages "
		      "found young in at least one of the last within_scans scans (--ws-scans).");
	for (size_t i = 0; i < s->n; i++) {
		char n[8];
		const char *lab[] = { "domain", s->vms[i].domain, "within_scans", n, NULL };

		if (!s->vms[i].idle.valid)
			continue;
		snprintf(n, sizeof(n), "%u", s->vms[i].idle.ws_scans);
		kh_exp_u64(w, "kvmheat_idle_working_set_bytes", "", lab,
			   s->vms[i].idle.ws_pages << KH_PAGE_SHIFT);
	}
}

int kh_exp_render(const struct kh_exp_snap *s, enum kh_exp_fmt fmt, char **out, size_t *len)
{
	struct kh_exp_out w = { .fmt = fmt };
	int err = 0;

	*out = NULL;
	*len = 0;
	w.f = open_memstream(out, len);
	if (!w.f)
		return -errno;
	kh_exp_render_self(&w, s);
	kh_exp_render_sources(&w, s);
	kh_exp_render_vms(&w, s);
	kh_exp_render_idle(&w, s);
	if (fmt == KH_EXP_OPENMETRICS)
		fputs("# EOF\n", w.f);
	if (ferror(w.f))
		err = -ENOMEM;
	if (fclose(w.f) && !err)
		err = -errno;
	if (err) {
		free(*out);
		*out = NULL;
		*len = 0;
	}
	return err;
}

/* ---- textfile mode ---- */

static int kh_write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * The temp file's name does not end in .prom, so node_exporter's textfile
 * collector never reads it.  No fsync: rename alone makes the switch
 * atomic for readers; durability across a crash does not matter for
 * figures rewritten every interval.
 */
int kh_exp_write_textfile(const char *path, const struct kh_exp_snap *s, char *why,
			  size_t whylen)
{
	char *tmp = NULL, *buf = NULL;
	size_t len;
	int fd = -1, err;

	err = kh_exp_render(s, KH_EXP_TEXT, &buf, &len);
	if (err) {
		snprintf(why, whylen, "rendering metrics: %s", strerror(-err));
		return err;
	}
	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
		free(buf);
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		err = -errno;
		snprintf(why, whylen, "creating %s: %s", tmp, strerror(errno));
		goto out;
	}
	/* mkstemp makes it 0600; node_exporter usually runs as another user */
	err = fchmod(fd, 0644) ? -errno : kh_write_all(fd, buf, len);
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		snprintf(why, whylen, "writing %s: %s", path, strerror(-err));
		unlink(tmp);
	}
out:
	free(tmp);
	free(buf);
	return err;
}
