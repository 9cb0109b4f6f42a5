// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * khq: the checks of the rig's real-guest stage (docs/VMTEST.md), run in the
 * L1 rig kernel by tools/vmtest/qemu/init against one QEMU process whose L2
 * Linux guest runs khl2.  khl2's console (L2LOG) gives the truth: the gfn of
 * every buffer page from L2's own /proc/self/pagemap.  Each check prints
 *
 *   KHVT result <tag> <check> pass|fail|skip <figures>
 *
 *   khq discovery LIST.json PID VCPUS MEM_MIB   (while QEMU runs)
 *   khq present LIST.json PID    (as0 gfns whose host page is not populated)
 *   khq aging L2LOG HEAT.json PID
 *   khq aging_as0 L2LOG FEXIT.json TRACEPOINT.json PID
 *   khq faults L2LOG HEAT.json PRESENT PID
 *   khq track L2LOG HEAT.json EVENTS.json T0_NS T1_NS PID
 *   khq names LIST.json HEAT.json PID NAME UUID VIEWS  ("VIEW COUNT" lines)
 *   khq now                      (CLOCK_MONOTONIC in ns, as BPF's ktime)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#define PAGE_SHIFT	12
#define HOT_YOUNG	2	/* young in >= 2 reclaim passes: hot (as khvt) */
#define MIN_PR		0.99	/* hot-set precision and recall, issue 13 */
#define MIN_FAULTS	0.99	/* first touches seen as kvm_page_fault */
#define PFERR_WRITE	2

static const char *tag = "?";
static int failed;

static void result(const char *check, const char *verdict, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void result(const char *check, const char *verdict, const char *fmt, ...)
{
	va_list ap;

	printf("KHVT result %s %s %s ", tag, check, verdict);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	failed |= !strcmp(verdict, "fail");
}

static int64_t jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / b : 0;
}

/* The VM entry for @pid in list -j (an array) or heat -j ({"vms": [...]}). */
static json_t *vm_of(json_t *root, uint64_t pid)
{
	json_t *vms = json_is_array(root) ? root : json_object_get(root, "vms");

	for (size_t i = 0; i < json_array_size(vms); i++)
		if ((uint64_t)jint(json_array_get(vms, i), "pid") == pid)
			return json_array_get(vms, i);
	return NULL;
}

static json_t *load(const char *check, const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);

	if (!j)
		result(check, "fail", "cannot read %s: %s (line %d)", path, je.text, je.line);
	return j;
}

/* "hooks" of source @name in heat -j's "sources". */
static const char *hooks_of(json_t *heat, const char *name)
{
	json_t *srcs = json_object_get(heat, "sources");

	for (size_t s = 0; s < json_array_size(srcs); s++) {
		json_t *sj = json_array_get(srcs, s);

		if (!strcmp(json_string_value(json_object_get(sj, "source")) ?: "", name))
			return json_string_value(json_object_get(sj, "hooks")) ?: "";
	}
	return "none";
}

/* ---- khl2's truth ---- */

struct truth {
	uint64_t *gfn;		/* per buffer page, 0 = unknown */
	size_t pages, hot, stride, passes, missing, moved;
	long pt_index, pt_writes;
	uint64_t *pgt;		/* page-table gfns at the end (kpageflags) */
	size_t npgt;
	bool done;
};

static bool is_hot(const struct truth *t, size_t i)
{
	return i % t->stride == 0 && i / t->stride < t->hot;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void parse_map(struct truth *t, const char *l)
{
	unsigned long long idx, g, len;
	char lens[32];

	if (sscanf(l, "KHL2 map %llx %llx %31s", &idx, &g, lens) != 3)
		return;
	len = strtoull(lens + (lens[0] == '-'), NULL, 16);
	for (unsigned long long k = 0; k < len && idx + k < t->pages; k++)
		t->gfn[idx + k] = lens[0] == '-' ? g - k : g + k;
}

static void parse_pgtables(struct truth *t, const char *l)
{
	char *end;

	for (const char *p = l + strlen("KHL2 pgtables"); *p; p = end) {
		uint64_t g = strtoull(p, &end, 16);
		uint64_t *n;

		if (end == p)
			break;
		n = realloc(t->pgt, (t->npgt + 1) * sizeof(*n));
		if (!n)
			return;
		t->pgt = n;
		t->pgt[t->npgt++] = g;
	}
}

static int truth_load(const char *check, const char *path, struct truth *t)
{
	FILE *f = fopen(path, "r");
	char line[512];

	memset(t, 0, sizeof(*t));
	t->pt_index = -1;
	if (!f) {
		result(check, "fail", "no L2 console log %s", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *l = strstr(line, "KHL2 ");

		if (!l)
			continue;
		if (!t->gfn && sscanf(l, "KHL2 ready pages=%zu hot=%zu stride=%zu passes=%zu",
				      &t->pages, &t->hot, &t->stride, &t->passes) == 4) {
			t->gfn = calloc(t->pages ? t->pages : 1, sizeof(*t->gfn));
			if (!t->gfn)
				break;
		} else if (t->gfn && !strncmp(l, "KHL2 map ", 9)) {
			parse_map(t, l);
		} else if (!strncmp(l, "KHL2 pgtables ", 14)) {
			parse_pgtables(t, l);
		} else if (!strncmp(l, "KHL2 done", 9)) {
			t->done = true;
		} else {
			sscanf(l, "KHL2 truth pages=%*u hot=%*u stride=%*u runs=%*u missing=%zu",
			       &t->missing);
			sscanf(l, "KHL2 moved %zu", &t->moved);
			sscanf(l, "KHL2 pt addr=%*s pmd_index=%lx offset=%*u cycles=%*u writes=%ld",
			       &t->pt_index, &t->pt_writes);
		}
	}
	fclose(f);
	if (!t->gfn || !t->stride) {
		result(check, "fail", "khl2 printed no truth in %s", path);
		return -1;
	}
	if (t->pgt)
		qsort(t->pgt, t->npgt, sizeof(*t->pgt), cmp_u64);
	return 0;
}

static bool in_set(const uint64_t *s, size_t n, uint64_t g)
{
	return s && bsearch(&g, s, n, sizeof(*s), cmp_u64);
}

/* Buffer page index of @g, or -1 (the sorted copy keeps it O(log n)). */
struct gfnidx {
	uint64_t gfn;
	size_t idx;
};

static int cmp_gi(const void *a, const void *b)
{
	return cmp_u64(&((const struct gfnidx *)a)->gfn, &((const struct gfnidx *)b)->gfn);
}

static struct gfnidx *index_truth(const struct truth *t)
{
	struct gfnidx *gi = calloc(t->pages, sizeof(*gi));

	if (!gi)
		return NULL;
	for (size_t i = 0; i < t->pages; i++)
		gi[i] = (struct gfnidx){ t->gfn[i], i };
	qsort(gi, t->pages, sizeof(*gi), cmp_gi);
	return gi;
}

static long find_idx(const struct gfnidx *gi, size_t n, uint64_t g)
{
	struct gfnidx k = { g, 0 }, *r = bsearch(&k, gi, n, sizeof(*gi), cmp_gi);

	return r && g ? (long)r->idx : -1;
}

/* ---- discovery ---- */

/* Is [lo, hi) inside one mapping of /proc/PID/maps? */
static bool mapped(uint64_t pid, uint64_t lo, uint64_t hi)
{
	char path[64], line[512];
	bool ok = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%" PRIu64 "/maps", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!ok && fgets(line, sizeof(line), f)) {
		unsigned long long a, b;

		if (sscanf(line, "%llx-%llx", &a, &b) == 2)
			ok = lo >= a && hi <= b;
	}
	fclose(f);
	return ok;
}

static int cmd_discovery(char **a)
{
	uint64_t pid = strtoull(a[1], NULL, 0), vcpus = strtoull(a[2], NULL, 0);
	uint64_t ram = strtoull(a[3], NULL, 0) << 20 >> PAGE_SHIFT, as0 = 0, as0_pages = 0;
	uint64_t ram_covered = 0, as1 = 0, as1_alias = 0, unmapped = 0;
	json_t *root = load("discovery", a[0]), *vm, *slots;
	char detail[1024] = "";
	size_t off = 0;
	bool ok;

	if (!root)
		return 1;
	vm = vm_of(root, pid);
	if (!vm) {
		result("discovery", "fail", "kvmheat list -j does not show QEMU's pid %" PRIu64, pid);
		return 1;
	}
	slots = json_object_get(vm, "memslots");
	for (size_t i = 0; i < json_array_size(slots); i++) {
		json_t *s = json_array_get(slots, i);
		uint64_t base = jint(s, "base_gfn"), n = jint(s, "npages"), hva = jint(s, "hva");
		uint64_t end = base + n < ram ? base + n : ram;

		unmapped += !mapped(pid, hva, hva + (n << PAGE_SHIFT));
		off += snprintf(detail + off, sizeof(detail) - off, "%s%lld/as%lld:0x%" PRIx64
				"+%" PRIu64, off ? "," : "", (long long)jint(s, "slot"),
				(long long)jint(s, "as_id"), base, n);
		if (jint(s, "as_id") == 0) {
			as0++;
			as0_pages += n;
			ram_covered += base < end ? end - base : 0;
			continue;
		}
		as1++;
		/* SMM's address space maps the same RAM: an alias of an as0 slot */
		for (size_t k = 0; k < json_array_size(slots); k++) {
			json_t *o = json_array_get(slots, k);

			if (jint(o, "as_id") == 0 && (uint64_t)jint(o, "hva") <= hva &&
			    hva + (n << PAGE_SHIFT) <= (uint64_t)jint(o, "hva") +
			    ((uint64_t)jint(o, "npages") << PAGE_SHIFT)) {
				as1_alias++;
				break;
			}
		}
	}
	/* RAM below 1 MiB has the VGA hole and ROMs at 0xa0000-0xfffff (96 pages) */
	ok = (uint64_t)jint(vm, "vcpus") == vcpus && as0 > 0 && as1 > 0 &&
	     ram_covered + 96 >= ram && unmapped == 0 &&
	     (uint64_t)jint(vm, "memory_bytes") == as0_pages << PAGE_SHIFT &&
	     !strncmp(json_string_value(json_object_get(vm, "comm")) ?: "", "qemu-system", 11);
	result("discovery", ok ? "pass" : "fail", "pid=%" PRIu64 " comm=%s vcpus=%lld (want %"
	       PRIu64 ") memslots=%zu: %" PRIu64 " in as0, %" PRIu64 " in as1 (SMM; %" PRIu64
	       " alias as0 RAM); RAM pages covered by as0 %" PRIu64 " of %" PRIu64
	       " (96 below 1 MiB may be ROM/VGA); memory_bytes=%lld = as0 only (%" PRIu64
	       " pages); slots outside QEMU's mappings %" PRIu64 "; slots %s", pid,
	       json_string_value(json_object_get(vm, "comm")) ?: "?",
	       (long long)jint(vm, "vcpus"), vcpus, json_array_size(slots), as0, as1, as1_alias,
	       ram_covered, ram, (long long)jint(vm, "memory_bytes"), as0_pages, unmapped,
	       detail);
	json_decref(root);
	return failed;
}

/* as0 gfns whose host page is not populated now: their first guest touch
 * must fault in KVM (no NPT entry can exist without a host page). */
static int cmd_present(char **a)
{
	uint64_t pid = strtoull(a[1], NULL, 0), total = 0, absent = 0;
	json_t *root = load("faults", a[0]), *vm, *slots;
	char path[64];
	int fd;

	vm = root ? vm_of(root, pid) : NULL;
	snprintf(path, sizeof(path), "/proc/%" PRIu64 "/pagemap", pid);
	fd = open(path, O_RDONLY);
	if (!vm || fd < 0) {
		fprintf(stderr, "khq present: no VM %" PRIu64 " or %s: %s\n", pid, path,
			strerror(errno));
		return 1;
	}
	slots = json_object_get(vm, "memslots");
	for (size_t i = 0; i < json_array_size(slots); i++) {
		json_t *s = json_array_get(slots, i);
		uint64_t base = jint(s, "base_gfn"), n = jint(s, "npages"), hva = jint(s, "hva");
		uint64_t *pm = calloc(n ? n : 1, 8);

		if (jint(s, "as_id") != 0 || !pm ||
		    pread(fd, pm, n * 8, hva >> PAGE_SHIFT << 3) != (ssize_t)(n * 8)) {
			free(pm);
			continue;
		}
		for (uint64_t k = 0; k < n; k++) {
			total++;
			/* bit 63 present, bit 62 swapped */
			if (!(pm[k] >> 62 & 3)) {
				printf("%" PRIx64 "\n", base + k);
				absent++;
			}
		}
		free(pm);
	}
	close(fd);
	fprintf(stderr, "khq present: %" PRIu64 " of %" PRIu64 " as0 gfns unpopulated\n", absent,
		total);
	json_decref(root);
	return 0;
}

/* ---- aging ---- */

static int cmd_aging(char **a)
{
	uint64_t pid = strtoull(a[2], NULL, 0), tp = 0, fp = 0, fn = 0, aged_buf = 0;
	uint64_t young_out = 0, aged_out = 0, max_aged = 0;
	json_t *root, *vm, *gfns;
	struct gfnidx *gi;
	struct truth t;
	bool *said;
	double p, r;

	if (truth_load("aging", a[0], &t))
		return 1;
	root = load("aging", a[1]);
	if (!root)
		return 1;
	vm = vm_of(root, pid);
	gi = index_truth(&t);
	said = calloc(t.pages, sizeof(*said));
	if (!vm || !gi || !said) {
		result("aging", "fail", "no VM %" PRIu64 " in %s (nothing aged?)", pid, a[1]);
		return 1;
	}
	gfns = json_object_get(vm, "gfns");
	for (size_t i = 0; i < json_array_size(gfns); i++) {
		json_t *e = json_array_get(gfns, i);
		long k = find_idx(gi, t.pages, jint(e, "gfn"));
		uint64_t aged = jint(e, "aged"), young = jint(e, "young");

		if (k < 0) {
			aged_out += aged > 0;
			young_out += young >= HOT_YOUNG;
			continue;
		}
		aged_buf += aged > 0;
		max_aged = aged > max_aged ? aged : max_aged;
		said[k] = young >= HOT_YOUNG;
	}
	for (size_t i = 0; i < t.pages; i++) {
		if (!t.gfn[i])
			continue;
		tp += said[i] && is_hot(&t, i);
		fp += said[i] && !is_hot(&t, i);
		fn += !said[i] && is_hot(&t, i);
	}
	p = ratio(tp, tp + fp);
	r = ratio(tp, tp + fn);
	result("aging", p >= MIN_PR && r >= MIN_PR && t.missing == 0 && t.moved == 0 ? "pass" :
	       "fail", "hooks=%s hot-set precision=%.4f recall=%.4f (tp %" PRIu64 " fp %" PRIu64
	       " fn %" PRIu64 "; hot = young in >= %d of %zu reclaim passes, 4 KiB gfns) over "
	       "the %zu-page buffer (%zu hot, every %zu-th; gfns from L2's pagemap, %zu missing, "
	       "%zu moved); buffer gfns aged %" PRIu64 ", most checks of one gfn %" PRIu64
	       "; outside the buffer (L2 kernel etc.): %" PRIu64 " aged, %" PRIu64 " hot",
	       hooks_of(root, "aging"), p, r, tp, fp, fn, HOT_YOUNG, t.passes, t.pages, t.hot,
	       t.stride, t.missing, t.moved, aged_buf, max_aged, aged_out, young_out);
	free(said);
	free(gi);
	json_decref(root);
	return failed;
}

/*
 * SMM: QEMU's address space 1 aliases guest RAM, and KVM calls kvm_age_gfn
 * once per memslot of every address space that maps an HVA, while the
 * kvm:kvm_age_hva tracepoint fires once per MMU-notifier call.  Counted in
 * address space 0 only, both give the same checks per gfn; mixing the SMM
 * slots in doubles the fexit counts.
 */
static int cmd_as0(char **a)
{
	uint64_t pid = strtoull(a[3], NULL, 0), same = 0, n = 0, tot[2] = { 0, 0 };
	json_t *root[2] = { load("aging_as0", a[1]), load("aging_as0", a[2]) };
	uint64_t *aged[2];
	struct gfnidx *gi;
	struct truth t;

	if (truth_load("aging_as0", a[0], &t) || !root[0] || !root[1])
		return 1;
	gi = index_truth(&t);
	aged[0] = calloc(t.pages, sizeof(uint64_t));
	aged[1] = calloc(t.pages, sizeof(uint64_t));
	if (!gi || !aged[0] || !aged[1])
		return 1;
	for (int m = 0; m < 2; m++) {
		json_t *vm = vm_of(root[m], pid), *gfns = vm ? json_object_get(vm, "gfns") : NULL;

		for (size_t i = 0; i < json_array_size(gfns); i++) {
			json_t *e = json_array_get(gfns, i);
			long k = find_idx(gi, t.pages, jint(e, "gfn"));

			if (k >= 0)
				aged[m][k] = jint(e, "aged");
		}
	}
	for (size_t i = 0; i < t.pages; i++) {
		if (!aged[0][i] && !aged[1][i])
			continue;
		n++;
		same += aged[0][i] == aged[1][i];
		tot[0] += aged[0][i];
		tot[1] += aged[1][i];
	}
	result("aging_as0", n && ratio(same, n) >= 0.98 && tot[0] <= tot[1] * 1.05 &&
	       tot[1] <= tot[0] * 1.05 ? "pass" : "fail", "buffer gfns aged %" PRIu64 "; same "
	       "checks per gfn from %s (per memslot) as from %s (per notifier call) for %.4f "
	       "(want >= 0.98); checks %" PRIu64 " vs %" PRIu64 " (want within 5%%: SMM's "
	       "address space 1 counted in would double the first)", n, hooks_of(root[0],
	       "aging"), hooks_of(root[1], "aging"), ratio(same, n), tot[0], tot[1]);
	free(aged[0]);
	free(aged[1]);
	free(gi);
	json_decref(root[0]);
	json_decref(root[1]);
	return failed;
}

/* ---- faults (npt=1) ---- */

static int cmd_faults(char **a)
{
	uint64_t pid = strtoull(a[3], NULL, 0), fresh = 0, seen = 0, wr = 0, faulted = 0;
	uint64_t faulted_buf = 0, *absent = NULL;
	size_t nabsent = 0, cap = 0;
	json_t *root, *vm, *gfns;
	struct gfnidx *gi;
	struct truth t;
	char line[64];
	FILE *f;

	if (truth_load("faults", a[0], &t))
		return 1;
	f = fopen(a[2], "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (nabsent == cap) {
			uint64_t *n = realloc(absent, (cap = cap * 2 + 1024) * sizeof(*n));

			if (!n)
				break;
			absent = n;
		}
		absent[nabsent++] = strtoull(line, NULL, 16);
	}
	if (f)
		fclose(f);
	root = load("faults", a[1]);
	vm = root ? vm_of(root, pid) : NULL;
	gi = index_truth(&t);
	if (!vm || !gi || !absent) {
		result("faults", "fail", "no VM %" PRIu64 " in %s or no snapshot %s", pid, a[1], a[2]);
		return 1;
	}
	qsort(absent, nabsent, sizeof(*absent), cmp_u64);
	gfns = json_object_get(vm, "gfns");
	for (size_t i = 0; i < json_array_size(gfns); i++) {
		json_t *e = json_array_get(gfns, i);
		uint64_t g = jint(e, "gfn");
		bool buf = find_idx(gi, t.pages, g) >= 0;

		if (jint(e, "faults") <= 0)
			continue;
		faulted++;
		faulted_buf += buf;
		if (buf && in_set(absent, nabsent, g)) {
			seen++;
			wr += jint(e, "writes") > 0;
		}
	}
	for (size_t i = 0; i < t.pages; i++)
		fresh += t.gfn[i] && in_set(absent, nabsent, t.gfn[i]);
	result("faults", ratio(seen, fresh) >= MIN_FAULTS && ratio(wr, seen) >= MIN_FAULTS &&
	       strstr(hooks_of(root, "walk"), "kvm_page_fault") ? "pass" : "fail",
	       "hooks=%s buffer pages whose host page was unpopulated when khl2 started: %"
	       PRIu64 " of %zu; of those, with a kvm_page_fault: %" PRIu64 " (recall %.4f, "
	       "want >= %.2f), as a write %" PRIu64 " (khl2 writes each page first); gfns "
	       "with faults in the whole run %" PRIu64 ", in the buffer %" PRIu64 " (the "
	       "rest: L2's boot and kernel)", hooks_of(root, "walk"), fresh, t.pages, seen,
	       ratio(seen, fresh), MIN_FAULTS, wr, faulted, faulted_buf);
	free(absent);
	free(gi);
	json_decref(root);
	return failed;
}

/* ---- page-track (npt=0) ---- */

static int cmd_track(char **a)
{
	uint64_t t0 = strtoull(a[3], NULL, 0), t1 = strtoull(a[4], NULL, 0);
	uint64_t pid = strtoull(a[5], NULL, 0), inwin = 0, on_pgt = 0, on_data = 0;
	uint64_t best = 0, best_n = 0, heat_tracked = 0, heat_sub = 0, ngfn = 0, ngfn_pgt = 0;
	uint64_t *wgfn;
	json_t *ev, *evs, *heat, *vm, *gfns;
	struct gfnidx *gi;
	struct truth t;
	long off;

	if (truth_load("track", a[0], &t))
		return 1;
	if (t.pt_index < 0 || t.pt_writes <= 0 || !t.npgt) {
		result("track", "fail", "khl2 did not report its page-table run (pt line, "
		       "pgtables)");
		return 1;
	}
	off = t.pt_index * 8;
	ev = load("track_events", a[2]);
	heat = load("track", a[1]);
	gi = index_truth(&t);
	if (!ev || !heat || !gi)
		return 1;
	evs = json_object_get(ev, "events");
	wgfn = calloc(json_array_size(evs) + 1, sizeof(*wgfn));
	if (!wgfn)
		return 1;
	/* the gfn that took most 8-byte writes at the entry's offset in the window */
	for (size_t i = 0; i < json_array_size(evs); i++) {
		json_t *e = json_array_get(evs, i);
		uint64_t gpa = jint(e, "gpa"), ts = jint(e, "ts_ns"), g = gpa >> PAGE_SHIFT, n = 0;

		if (ts < t0 || ts > t1)
			continue;
		wgfn[inwin++] = g;
		on_pgt += in_set(t.pgt, t.npgt, g);
		on_data += find_idx(gi, t.pages, g) >= 0;
		if ((long)(gpa & 4095) != off || jint(e, "bytes") != 8 || g == best)
			continue;
		for (size_t k = 0; k < json_array_size(evs); k++) {
			json_t *o = json_array_get(evs, k);
			uint64_t ot = jint(o, "ts_ns");

			n += (uint64_t)jint(o, "gpa") == gpa && jint(o, "bytes") == 8 &&
			     ot >= t0 && ot <= t1;
		}
		if (n > best_n) {
			best_n = n;
			best = g;
		}
	}
	/* distinct gfns written in the window, and which are page tables now */
	qsort(wgfn, inwin, sizeof(*wgfn), cmp_u64);
	for (size_t i = 0; i < inwin; i++) {
		if (i && wgfn[i] == wgfn[i - 1])
			continue;
		ngfn++;
		ngfn_pgt += in_set(t.pgt, t.npgt, wgfn[i]);
	}
	free(wgfn);
	result("track_events", best_n == (uint64_t)t.pt_writes && in_set(t.pgt, t.npgt, best) &&
	       on_data == 0 ? "pass" : "fail", "hooks=%s khl2's PMD entry (byte %ld): %" PRIu64
	       " 8-byte writes at gfn 0x%" PRIx64 " in the run's window, %ld caused; that gfn "
	       "is %sa page-table page by L2's /proc/kpageflags; all writes in the window %"
	       PRIu64 " on %" PRIu64 " gfns; on gfns that are page tables at the end %" PRIu64
	       " writes, %" PRIu64 " gfns (the rest: tables freed since, whose pages KVM "
	       "still write-protects when reused); on khl2's data pages %" PRIu64 "; %zu "
	       "page-table pages in L2 at the end",
	       json_string_value(json_object_get(ev, "hooks")) ?: "?", off, best_n, best,
	       t.pt_writes, in_set(t.pgt, t.npgt, best) ? "" : "NOT ", inwin, ngfn, on_pgt,
	       ngfn_pgt, on_data, t.npgt);
	/* kvmheat heat -e track: the same gfn and 128-byte sub-page, whole run */
	vm = vm_of(heat, pid);
	gfns = vm ? json_object_get(vm, "gfns") : NULL;
	for (size_t i = 0; i < json_array_size(gfns); i++) {
		json_t *e = json_array_get(gfns, i);

		if ((uint64_t)jint(e, "gfn") != best)
			continue;
		heat_tracked = jint(e, "tracked");
		heat_sub = json_integer_value(json_array_get(json_object_get(e, "subpage_writes"),
							      off >> 7));
	}
	result("track", best_n && heat_tracked >= (uint64_t)t.pt_writes && heat_sub >=
	       (uint64_t)t.pt_writes ? "pass" : "fail", "kvmheat heat -e track: gfn 0x%" PRIx64
	       " tracked %" PRIu64 ", sub-page %ld %" PRIu64 " (want >= %ld each: the run's "
	       "writes, plus L2's boot)", best, heat_tracked, off >> 7, heat_sub, t.pt_writes);
	free(gi);
	json_decref(ev);
	json_decref(heat);
	return failed;
}

/* ---- names ---- */

static int cmd_names(char **a)
{
	uint64_t pid = strtoull(a[2], NULL, 0);
	json_t *list = load("names", a[0]), *heat = load("names", a[1]), *lv, *hv;
	const char *ln, *hn, *lu;
	char line[128], views[256] = "";
	size_t off = 0;
	int bad = 0;
	FILE *f;

	if (!list || !heat)
		return 1;
	lv = vm_of(list, pid);
	hv = vm_of(heat, pid);
	if (!lv || !json_object_get(lv, "name")) {
		result("names", "skip", "kvmheat list -j has no \"name\" for QEMU's VM (VM names, "
		       "issue 13 section 2, are not in this build); QEMU runs with -name guest=%s "
		       "-uuid %s", a[3], a[4]);
		return 0;
	}
	ln = json_string_value(json_object_get(lv, "name")) ?: "";
	lu = json_string_value(json_object_get(lv, "uuid")) ?: "";
	/* heat -j may not carry names yet: judged only where it has the key */
	hn = hv && json_object_get(hv, "name") ?
	     json_string_value(json_object_get(hv, "name")) ?: "" : NULL;
	/* "VIEW COUNT" lines: how many lines of that view's output name the VM */
	f = fopen(a[5], "r");
	while (f && fgets(line, sizeof(line), f)) {
		char view[32];
		unsigned long n;

		if (sscanf(line, "%31s %lu", view, &n) != 2)
			continue;
		off += snprintf(views + off, sizeof(views) - off, " %s:%lu", view, n);
		bad += n == 0;
	}
	if (f)
		fclose(f);
	result("names", !strcmp(ln, a[3]) && (!hn || !strcmp(hn, a[3])) && !bad &&
	       (!*lu || !strcmp(lu, a[4])) ? "pass" : "fail", "list name=\"%s\" source=%s "
	       "uuid=\"%s\"; heat -j name=%s%s%s; lines naming it in%s (want \"%s\", uuid %s)",
	       ln, json_string_value(json_object_get(lv, "name_source")) ?: "?", lu,
	       hn ? "\"" : "", hn ? hn : "(no name key)", hn ? "\"" : "",
	       off ? views : " no other view in this boot", a[3], a[4]);
	json_decref(list);
	json_decref(heat);
	return failed;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int nargs;
		int (*fn)(char **);
	} cmds[] = {
		{ "discovery", 4, cmd_discovery }, { "present", 2, cmd_present },
		{ "aging", 3, cmd_aging }, { "aging_as0", 4, cmd_as0 },
		{ "faults", 4, cmd_faults },
		{ "track", 6, cmd_track }, { "names", 6, cmd_names },
	};

	if (getenv("KHVT_TAG"))
		tag = getenv("KHVT_TAG");
	if (argc == 2 && !strcmp(argv[1], "now")) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		printf("%llu\n", (unsigned long long)ts.tv_sec * 1000000000ULL + ts.tv_nsec);
		return 0;
	}
	for (size_t i = 0; argc > 1 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name) && argc == cmds[i].nargs + 2)
			return cmds[i].fn(argv + 2);
	fprintf(stderr, "usage: khq discovery|present|aging|aging_as0|faults|track|names ARGS | now\n");
	return 2;
}
