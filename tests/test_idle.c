// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Aging drivers and idle ages without a kernel that has them: page_idle's
 * pagemap -> PFN -> bitmap-word logic against a fake pagemap and bitmap
 * (no kernel available here or in the rig has CONFIG_IDLE_PAGE_TRACKING),
 * the lru_gen parser and writer against a stand-in for the debugfs file,
 * DAMON's ownership checks and leftover cleanup against a fake sysfs tree,
 * and idle ages, huge-range entries, range merging and the JSON contract.
 * Plus, on this host, `kvmheat probe -j` listing every driver with a reason.
 */
#define _GNU_SOURCE
#include "khtest.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <jansson.h>
#include "kh.h"
#include "agedrv.h"
#include "idle.h"
#include "khidle.h"

#define PM_PRESENT	(1ULL << 63)
#define PM_SWAP		(1ULL << 62)

static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kh-test-idle.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) ? -1 : 0;
}

static void put_file(const char *rel, const char *text)
{
	char path[512], cmd[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	assert_int_equal(system(cmd), 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *get_file(const char *rel, char *buf, size_t len)
{
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	n = fread(buf, 1, len - 1, f);
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	fclose(f);
	return buf;
}

/* A fake pagemap: entry i at byte (hva >> 12 + i) * 8. */
static int fake_pagemap(const char *rel, uint64_t hva, const uint64_t *ents, size_t n)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, ents, n * 8, (off_t)((hva >> 12) * 8)), (ssize_t)(n * 8));
	return fd;
}

static void test_pagemap_pfns(void **state)
{
	const uint64_t hva = 0x7f0000000000ULL;
	const uint64_t ents[] = {
		PM_PRESENT | 1000, 0 /* not present */, PM_SWAP | 5 /* swapped */,
		PM_PRESENT | 0 /* PFN hidden: no CAP_SYS_ADMIN */, PM_PRESENT | 64, PM_PRESENT | 1001,
		PM_PRESENT | (1ULL << 55) | 7 /* soft-dirty etc. above the PFN bits */,
	};
	uint64_t *pfns = NULL;
	size_t n = 0, cap = 0;
	int fd = fake_pagemap("pagemap", hva, ents, 7);

	(void)state;
	assert_int_equal(kh_pagemap_pfns(fd, hva, 7, &pfns, &n, &cap), 0);
	assert_int_equal(n, 4);
	assert_int_equal(pfns[0], 1000);
	assert_int_equal(pfns[1], 64);
	assert_int_equal(pfns[2], 1001);
	assert_int_equal(pfns[3], 7);
	/* past the end of what the file holds: an error, not silence */
	assert_int_not_equal(kh_pagemap_pfns(fd, hva + (1ULL << 30), 1, &pfns, &n, &cap), 0);
	close(fd);
	free(pfns);
}

static void test_pfn_words_and_bitmap(void **state)
{
	uint64_t pfns[] = { 200, 5, 70, 64, 5, 127, 128 };
	struct kh_idle_word w[8];
	uint64_t got[4] = {};
	size_t nw, writes;
	char path[512];
	int fd;

	(void)state;
	nw = kh_pfn_words(pfns, 7, w);
	/* word 0: pfn 5; word 1: 64, 70, 127; word 2: 128; word 3: 200 */
	assert_int_equal(nw, 4);
	assert_int_equal(w[0].idx, 0);
	assert_true(w[0].bits == 1ULL << 5);
	assert_int_equal(w[1].idx, 1);
	assert_true(w[1].bits == (1ULL | 1ULL << 6 | 1ULL << 63));
	assert_true(w[2].idx == 2 && w[2].bits == 1);
	assert_true(w[3].idx == 3 && w[3].bits == 1ULL << 8);

	snprintf(path, sizeof(path), "%s/bitmap", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	/* words 0..3 are consecutive: one write with a batch of 512, two with 2 */
	assert_int_equal(kh_idle_bitmap_write(fd, w, nw, 512, &writes), 0);
	assert_int_equal(writes, 1);
	assert_int_equal(pread(fd, got, 32, 0), 32);
	for (int i = 0; i < 4; i++)
		assert_true(got[i] == w[i].bits);
	assert_int_equal(kh_idle_bitmap_write(fd, w, nw, 2, &writes), 0);
	assert_int_equal(writes, 2);
	/* a gap: words 0 and 9 at their own offsets, two writes */
	w[1] = (struct kh_idle_word){ .idx = 9, .bits = 0xf0 };
	assert_int_equal(kh_idle_bitmap_write(fd, w, 2, 512, &writes), 0);
	assert_int_equal(writes, 2);
	assert_int_equal(pread(fd, got, 8, 9 * 8), 8);
	assert_true(got[0] == 0xf0);
	close(fd);
}

/* The whole page_idle scan: a fake /proc/PID/pagemap and bitmap, two memslots. */
static void test_page_idle_scan(void **state)
{
	struct kh_slot slots[2] = {
		{ .base_gfn = 0, .npages = 4, .hva = 0x10000000 },
		{ .base_gfn = 0x100, .npages = 2, .hva = 0x20000000 },
	};
	struct kh_vm vm = { .pid = 4321, .nr_slots = 2, .slots = slots };
	const uint64_t a[] = { PM_PRESENT | 130, PM_PRESENT | 131, 0, PM_PRESENT | 3 };
	const uint64_t b[] = { PM_PRESENT | 192, 0 };
	struct kh_agedrv_paths p = { .proc = tmpdir };
	char path[512], why[320], bm[512];
	struct kh_ager ag;
	uint64_t got[4] = {};
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/4321", tmpdir);
	mkdir(path, 0700);
	fd = fake_pagemap("4321/pagemap", 0x10000000, a, 4);
	assert_int_equal(pwrite(fd, b, 16, (0x20000000 >> 12) * 8), 16);
	close(fd);
	snprintf(bm, sizeof(bm), "%s/page_idle_bitmap", tmpdir);
	close(open(bm, O_RDWR | O_CREAT | O_TRUNC, 0600));
	p.page_idle = bm;
	assert_int_equal(kh_ager_open(&ag, KH_AD_PAGE_IDLE, 4321, &p, why, sizeof(why)), 0);
	assert_int_equal(kh_ager_scan(&ag, &vm, why, sizeof(why)), 0);
	assert_int_equal(ag.pages_last, 4);
	kh_ager_close(&ag);
	fd = open(bm, O_RDONLY);
	assert_int_equal(pread(fd, got, 32, 0), 32);
	close(fd);
	assert_true(got[0] == 1ULL << 3);
	assert_true(got[2] == (1ULL << 2 | 1ULL << 3));	/* 130, 131 */
	assert_true(got[3] == 1);			/* 192 */
}

static void test_page_idle_refused(void **state)
{
	struct kh_agedrv_paths p = { .page_idle = "/nonexistent/page_idle/bitmap",
				     .lru_gen_enabled = "/nonexistent/lru_gen/enabled",
				     .damon = "/nonexistent/damon", .release = "6.12.0" };
	struct kh_agedrv_probe pr;
	char kc[512];

	(void)state;
	put_file("kconfig-none", "# CONFIG_DAMON_VADDR is not set\nCONFIG_DAMON_SYSFS=y\n");
	snprintf(kc, sizeof(kc), "%s/kconfig-none", tmpdir);
	p.kconfig = kc;
	p.proc = tmpdir;	/* no kdamond threads in here */
	kh_agedrv_probe(&pr, &p, 0, -1);
	assert_int_equal(pr.chosen, -1);
	assert_non_null(strstr(pr.res[KH_AD_PAGE_IDLE].why, "CONFIG_IDLE_PAGE_TRACKING"));
	assert_non_null(strstr(pr.res[KH_AD_MGLRU].why, "CONFIG_LRU_GEN"));
	assert_non_null(strstr(pr.res[KH_AD_DAMON].why, "CONFIG_DAMON_VADDR"));
	/* MGLRU before 6.12 has no per-PTE notifier walk */
	p.release = "6.1.0-50-amd64";
	kh_agedrv_probe(&pr, &p, 0, -1);
	assert_non_null(strstr(pr.res[KH_AD_MGLRU].why, "1d4832becdc2"));
}

static const char lru_text[] =
	"memcg     1 /\n"
	" node     0\n"
	"          0       8632          0           0 \n"
	"          3       8632         46           0 \n"
	"memcg     2 /khidle\n"
	" node     0\n"
	"          5       3044          0           0 \n"
	"          6       3044          1           0 \n"
	"          8       3044       1299           0 \n"
	" node     1\n"
	"         11       3044          3           4 \n"
	"memcg    17 /other/deep\n"
	" node     0\n"
	"          2       1000          0           0 \n";

static void test_lrugen_parse(void **state)
{
	struct kh_lrugen_memcg m;

	(void)state;
	assert_int_equal(kh_lrugen_parse(lru_text, "/khidle", &m), 0);
	assert_int_equal(m.id, 2);
	assert_int_equal(m.nr_nodes, 2);
	assert_true(m.node[0] == 0 && m.max_seq[0] == 8);
	assert_true(m.node[1] == 1 && m.max_seq[1] == 11);
	assert_int_equal(kh_lrugen_parse(lru_text, "/", &m), 0);
	assert_true(m.id == 1 && m.nr_nodes == 1 && m.max_seq[0] == 3);
	assert_int_equal(kh_lrugen_parse(lru_text, "/other/deep", &m), 0);
	assert_true(m.id == 17 && m.max_seq[0] == 2);
	assert_int_equal(kh_lrugen_parse(lru_text, "/kh", &m), -ENOENT);
	assert_int_equal(kh_lrugen_parse("memcg 3 /x\n 5 6 7 8\n", "/x", &m), -EINVAL);
}

/* A stand-in for the kernel's lru_gen file: "+" at max_seq raises it. */
struct fake_lru {
	uint64_t max_seq;
	int stale_reads;	/* the next N reads show max_seq - 1 */
	int writes, bad;
	int fail;		/* -errno every write returns */
	int busy;		/* the next N writes: EEXIST, another walk is running */
	char last[96];
};

static int fake_read(void *ctx, char **text)
{
	struct fake_lru *f = ctx;
	uint64_t shown = f->max_seq - (f->stale_reads > 0);

	if (f->stale_reads > 0)
		f->stale_reads--;
	return asprintf(text, "memcg 1 /\n node 0\n 0 1 2 3\nmemcg 9 /vm\n node 0\n %" PRIu64
			" 1 2 3\n %" PRIu64 " 1 2 3\n", shown - 1, shown) < 0 ? -ENOMEM : 0;
}

static int fake_write(void *ctx, const char *cmd)
{
	struct fake_lru *f = ctx;
	unsigned long long id, seq;
	int node, sw, force;
	char c;

	f->writes++;
	snprintf(f->last, sizeof(f->last), "%s", cmd);
	if (sscanf(cmd, "%c %llu %d %llu %d %d", &c, &id, &node, &seq, &sw, &force) != 6 ||
	    c != '+') {
		f->bad++;
		return -EINVAL;
	}
	if (f->fail)
		return f->fail;
	if (f->busy > 0) {
		f->busy--;
		return -EEXIST;
	}
	if (id != 9 || node != 0 || seq > f->max_seq)
		return -EINVAL;
	if (seq == f->max_seq)
		f->max_seq++;
	return 0;	/* a stale seq: accepted, nothing done */
}

static void test_lrugen_age(void **state)
{
	struct fake_lru f = { .max_seq = 40 };
	struct kh_lrugen_io io = { fake_read, fake_write, &f };
	char why[320];

	(void)state;
	assert_int_equal(kh_lrugen_age_io(&io, "/vm", 0, why, sizeof(why)), 0);
	assert_int_equal(f.max_seq, 41);
	assert_int_equal(f.writes, 1);
	assert_string_equal(f.last, "+ 9 0 40 1 1\n");
	/* someone else aged between our read and our write: their walk aged the
	 * cgroup after our last scan (and the hooks saw it), so it counts */
	f.stale_reads = 1;
	assert_int_equal(kh_lrugen_age_io(&io, "/vm", 0, why, sizeof(why)), 0);
	assert_int_equal(f.max_seq, 41);
	assert_int_equal(f.writes, 2);
	/* a walk in progress (EEXIST) and max_seq unchanged: retried, then done */
	f.busy = 2;
	assert_int_equal(kh_lrugen_age_io(&io, "/vm", 0, why, sizeof(why)), 0);
	assert_int_equal(f.max_seq, 42);
	assert_int_equal(f.writes, 5);
	/* never gets through: gives up with a reason instead of looping */
	f.busy = 100;
	assert_int_equal(kh_lrugen_age_io(&io, "/vm", 0, why, sizeof(why)), -EAGAIN);
	assert_non_null(strstr(why, "did not go up"));
	f.busy = 0;
	f.fail = -ERANGE;
	assert_int_equal(kh_lrugen_age_io(&io, "/vm", 0, why, sizeof(why)), -ERANGE);
	assert_int_equal(kh_lrugen_age_io(&io, "/nope", 0, why, sizeof(why)), -ENOENT);
	/* nothing but "+" commands, ever */
	assert_int_equal(f.bad, 0);
}

/* MGLRU ages the whole cgroup: opening it for the VMM says when others share it. */
static void test_mglru_cgroup_note(void **state)
{
	struct kh_agedrv_paths p = { .release = "6.12.0" };
	char proc[512], cg[512], why[320];
	struct kh_ager ag;

	(void)state;
	snprintf(proc, sizeof(proc), "%s/mproc", tmpdir);
	snprintf(cg, sizeof(cg), "%s/cgroup", tmpdir);
	p.proc = proc;
	p.cgroup = cg;
	put_file("mproc/4321/cgroup", "0::/vm\n");
	put_file("cgroup/vm/cgroup.procs", "4321\n");
	assert_int_equal(kh_ager_open(&ag, KH_AD_MGLRU, 4321, &p, why, sizeof(why)), 0);
	assert_string_equal(ag.cgpath, "/vm");
	assert_string_equal(ag.note, "");
	kh_ager_close(&ag);
	put_file("cgroup/vm/cgroup.procs", "4321\n999\n1000\n");
	assert_int_equal(kh_ager_open(&ag, KH_AD_MGLRU, 4321, &p, why, sizeof(why)), 0);
	assert_non_null(strstr(ag.note, "holds 2 process(es) besides the VMM"));
	kh_ager_close(&ag);
	/* cgroup v1: the memory: line wins, its hierarchy is under memory/ */
	put_file("mproc/4321/cgroup", "4:memory:/machine/vm1\n0::/\n");
	put_file("cgroup/memory/machine/vm1/cgroup.procs", "4321\n7\n");
	assert_int_equal(kh_ager_open(&ag, KH_AD_MGLRU, 4321, &p, why, sizeof(why)), 0);
	assert_string_equal(ag.cgpath, "/machine/vm1");
	assert_non_null(strstr(ag.note, "holds 1 process(es)"));
	kh_ager_close(&ag);
}

/* ---- DAMON: only our own kdamond, and only when nobody else uses DAMON ---- */

static void damon_paths(struct kh_agedrv_paths *p, char *buf, size_t len)
{
	static char kc[512], damon[512], run[512];

	memset(p, 0, sizeof(*p));
	snprintf(kc, sizeof(kc), "%s/kconfig-damon", tmpdir);
	snprintf(damon, sizeof(damon), "%s/damon", tmpdir);
	snprintf(run, sizeof(run), "%s/run", tmpdir);
	snprintf(buf, len, "%s/proc", tmpdir);
	p->proc = buf;
	p->kconfig = kc;
	p->damon = damon;
	p->run = run;
	p->page_idle = "/nonexistent";
	p->lru_gen_enabled = "/nonexistent";
	p->release = "6.12.0";
	put_file("kconfig-damon", "CONFIG_DAMON=y\nCONFIG_DAMON_VADDR=y\nCONFIG_DAMON_SYSFS=y\n");
	put_file("proc/1/comm", "init\n");
	put_file("damon/kdamonds/nr_kdamonds", "0\n");
}

/* A pid that surely is not running: a child that has exited and been reaped. */
static uint32_t dead_pid(void)
{
	pid_t c = fork();

	if (!c)
		_exit(0);
	waitpid(c, NULL, 0);
	return (uint32_t)c;
}

static void test_damon_ownership(void **state)
{
	struct kh_agedrv_paths p;
	struct kh_agedrv_probe pr;
	char proc[512], buf[64];

	(void)state;
	damon_paths(&p, proc, sizeof(proc));
	kh_agedrv_probe(&pr, &p, 0, -1);
	assert_true(pr.res[KH_AD_DAMON].ok);
	assert_int_equal(pr.chosen, KH_AD_DAMON);
	assert_non_null(strstr(pr.res[KH_AD_DAMON].why, "SAMPLED"));

	/* someone else's kdamond thread: refused before DAMON's sysfs is read */
	put_file("proc/77/comm", "kdamond.0\n");
	put_file("damon/kdamonds/nr_kdamonds", "garbage-that-must-not-matter\n");
	kh_agedrv_probe(&pr, &p, 0, -1);
	assert_false(pr.res[KH_AD_DAMON].ok);
	assert_non_null(strstr(pr.res[KH_AD_DAMON].why, "kdamond pid 77"));
	assert_non_null(strstr(pr.res[KH_AD_DAMON].why, "not ours"));
	put_file("proc/77/comm", "bash\n");

	/* kdamond directories set up by someone else (not running) */
	put_file("damon/kdamonds/nr_kdamonds", "1\n");
	kh_agedrv_probe(&pr, &p, 0, -1);
	assert_false(pr.res[KH_AD_DAMON].ok);
	assert_non_null(strstr(pr.res[KH_AD_DAMON].why, "someone else"));
	assert_string_equal(get_file("damon/kdamonds/nr_kdamonds", buf, sizeof(buf)), "1");

	/* no kernel config at all and no DAMON sysfs: refused with why */
	p.kconfig = "/nonexistent/config";
	p.damon = "/nonexistent/damon";
	kh_agedrv_probe(&pr, &p, 0, -1);
	assert_false(pr.res[KH_AD_DAMON].ok);
}

/* A kdamond a SIGKILLed kvmheat left: found by the next start, stopped, said. */
static void test_damon_leftover(void **state)
{
	struct kh_agedrv_paths p;
	struct kh_agedrv_probe pr;
	char proc[512], rec[128], buf[64];
	uint32_t dead = dead_pid();

	(void)state;
	damon_paths(&p, proc, sizeof(proc));
	snprintf(rec, sizeof(rec), "owner=%u kdamond=4242 target=55\n", dead);
	put_file("run/damon.owner", rec);
	put_file("proc/4242/comm", "kdamond.0\n");
	put_file("damon/kdamonds/nr_kdamonds", "1\n");
	put_file("damon/kdamonds/0/pid", "4242\n");
	put_file("damon/kdamonds/0/state", "on\n");
	kh_agedrv_probe(&pr, &p, 0, -1);
	assert_non_null(strstr(pr.notes, "removed kdamond pid 4242"));
	assert_string_equal(get_file("damon/kdamonds/0/state", buf, sizeof(buf)), "off");
	assert_string_equal(get_file("damon/kdamonds/nr_kdamonds", buf, sizeof(buf)), "0");
	assert_null(get_file("run/damon.owner", buf, sizeof(buf)));
	/* (the fake kdamond "thread" stays in the fake /proc: refused as not ours now) */

	/* its kdamond stopped by itself (the target exited): our setup is removed too */
	put_file("proc/4242/comm", "sleep\n");
	put_file("run/damon.owner", rec);
	put_file("damon/kdamonds/nr_kdamonds", "1\n");
	put_file("damon/kdamonds/0/pid", "-1\n");
	put_file("damon/kdamonds/0/state", "off\n");
	put_file("damon/kdamonds/0/contexts/0/targets/0/pid_target", "55\n");
	kh_agedrv_probe(&pr, &p, 0, -1);
	assert_non_null(strstr(pr.notes, "removed the stopped DAMON setup"));
	assert_string_equal(get_file("damon/kdamonds/nr_kdamonds", buf, sizeof(buf)), "0");
	assert_true(pr.res[KH_AD_DAMON].ok);

	/* a record whose kdamond is not what DAMON shows: record dropped, DAMON untouched */
	put_file("damon/kdamonds/0/pid", "4242\n");
	put_file("proc/4242/comm", "sleep\n");
	snprintf(rec, sizeof(rec), "owner=%u kdamond=4243 target=55\n", dead);
	put_file("run/damon.owner", rec);
	put_file("damon/kdamonds/nr_kdamonds", "1\n");
	put_file("damon/kdamonds/0/state", "on\n");
	kh_agedrv_probe(&pr, &p, 0, -1);
	assert_non_null(strstr(pr.notes, "stale"));
	assert_string_equal(get_file("damon/kdamonds/0/state", buf, sizeof(buf)), "on");
	assert_string_equal(get_file("damon/kdamonds/nr_kdamonds", buf, sizeof(buf)), "1");
	assert_null(get_file("run/damon.owner", buf, sizeof(buf)));
}

/* ---- idle ages ---- */

static struct kh_slot test_slots[2] = {
	{ .base_gfn = 0x100, .npages = 1024, .hva = 0x7f0000000000ULL },
	{ .base_gfn = 0x1000, .npages = 8, .hva = 0x7f1000000000ULL },
};
static const struct kh_vm test_vm = { .pid = 42, .nr_slots = 2, .slots = test_slots };

/* One scan: @aged gfns aged, the ones in @young young. */
static void scan(struct kh_idle *st, const uint64_t *aged, size_t na, const uint64_t *young,
		 size_t ny, struct kh_idle_scan *sc)
{
	struct kh_key k[64];
	struct kh_counts c[64];
	struct kh_region r[8];
	struct kh_key rk[8];
	size_t nr = 0;

	memset(c, 0, sizeof(c));
	memset(r, 0, sizeof(r));
	for (size_t i = 0; i < na; i++) {
		k[i] = (struct kh_key){ .pid = 42, .idx = aged[i] };
		c[i].aged = 1;
		for (size_t j = 0; j < ny; j++)
			if (young[j] == aged[i])
				c[i].young = c[i].accesses = 1;
		/* the region map sees every gfn-level count too */
		if (!nr || rk[nr - 1].idx != aged[i] >> KH_REGION_SHIFT)
			rk[nr++] = (struct kh_key){ .pid = 42, .idx = aged[i] >> KH_REGION_SHIFT };
		r[nr - 1].c.aged++;
		r[nr - 1].c.young += c[i].young;
		r[nr - 1].c.accesses += c[i].accesses;
	}
	assert_int_equal(kh_idle_update(st, k, c, na, rk, r, nr, sc), 0);
}

static void test_idle_ages(void **state)
{
	const uint64_t all[] = { 0x100, 0x101, 0x102, 0x103, 0x1000 };
	const uint64_t hot[] = { 0x101, 0x1000 };
	struct kh_idle st;
	struct kh_idle_scan sc;
	struct kh_key other = { .pid = 7, .idx = 0x100 };
	struct kh_counts oc = { .aged = 1 };

	(void)state;
	assert_int_equal(kh_idle_init(&st, &test_vm), 0);
	assert_int_equal(st.nslots, 2);
	assert_int_equal(kh_idle_age(&st, 0x100), KH_IDLE_UNKNOWN);
	/* first pass: the initial faults make everything young */
	scan(&st, all, 5, all, 5, &sc);
	assert_true(sc.aged == 5 && sc.young == 5 && sc.huge == 0);
	for (int i = 0; i < 4; i++)
		scan(&st, all, 5, hot, 2, &sc);
	assert_int_equal(kh_idle_age(&st, 0x100), 4);
	assert_int_equal(kh_idle_age(&st, 0x101), 0);
	assert_int_equal(kh_idle_age(&st, 0x103), 4);
	assert_int_equal(kh_idle_age(&st, 0x1000), 0);
	assert_int_equal(kh_idle_age(&st, 0x104), KH_IDLE_UNKNOWN);	/* never aged */
	/* not aged in a scan (unmapped meanwhile): the age stays */
	scan(&st, hot, 2, hot, 2, &sc);
	assert_int_equal(kh_idle_age(&st, 0x100), 4);
	/* any access signal resets: a fault counts as one, with no aging at all */
	{
		struct kh_key k = { .pid = 42, .idx = 0x102 };
		struct kh_counts c = { .accesses = 1, .faults = 1 };

		assert_int_equal(kh_idle_update(&st, &k, &c, 1, NULL, NULL, 0, &sc), 0);
		assert_int_equal(kh_idle_age(&st, 0x102), 0);
	}
	/* another VM's entries change nothing */
	assert_int_equal(kh_idle_update(&st, &other, &oc, 1, NULL, NULL, 0, &sc), 0);
	assert_int_equal(kh_idle_age(&st, 0x100), 4);
	/* saturation */
	for (int i = 0; i < 300; i++)
		scan(&st, all, 1, NULL, 0, &sc);
	assert_int_equal(kh_idle_age(&st, 0x100), KH_IDLE_MAX);
	kh_idle_free(&st);
}

/* A huge mapping aged as one range: one entry for its region, no invented pages. */
static void test_idle_huge(void **state)
{
	struct kh_key rk = { .pid = 42, .idx = 0x200 >> KH_REGION_SHIFT };
	struct kh_region r = { .c = { .aged = 512, .flags = KH_F_RANGE_AGED } };
	struct kh_idle_range *rg;
	struct kh_idle_scan sc;
	struct kh_idle st;
	size_t n;

	(void)state;
	assert_int_equal(kh_idle_init(&st, &test_vm), 0);
	/* more aged in the region than its gfn entries say, but no range flag:
	 * entries lost to LRU eviction, not a huge mapping */
	r.c.flags = 0;
	assert_int_equal(kh_idle_update(&st, NULL, NULL, 0, &rk, &r, 1, &sc), 0);
	assert_int_equal(sc.huge, 0);
	assert_int_equal(kh_idle_age(&st, 0x200), KH_IDLE_UNKNOWN);
	r.c.flags = KH_F_RANGE_AGED;
	assert_int_equal(kh_idle_update(&st, NULL, NULL, 0, &rk, &r, 1, &sc), 0);
	assert_int_equal(sc.huge, 1);
	assert_int_equal(sc.aged, 0);
	assert_int_equal(kh_idle_update(&st, NULL, NULL, 0, &rk, &r, 1, &sc), 0);
	assert_int_equal(kh_idle_age(&st, 0x200), 2);
	assert_int_equal(kh_idle_age(&st, 0x3ff), 2);
	assert_int_equal(kh_idle_age(&st, 0x1ff), KH_IDLE_UNKNOWN);
	assert_int_equal(kh_idle_ranges(&st, 1, &rg, &n), 0);
	assert_int_equal(n, 1);
	assert_true(rg[0].gfn_start == 0x200 && rg[0].gfn_end == 0x3ff && rg[0].age == 2);
	free(rg);
	/* young over the range: the whole entry resets */
	r.c.young = r.c.accesses = 512;
	assert_int_equal(kh_idle_update(&st, NULL, NULL, 0, &rk, &r, 1, &sc), 0);
	assert_int_equal(kh_idle_age(&st, 0x300), 0);
	kh_idle_free(&st);
}

static void test_idle_ranges_merge(void **state)
{
	const uint64_t all[] = { 0x100, 0x101, 0x102, 0x104, 0x105, 0x1000, 0x1001 };
	const uint64_t young[] = { 0x102 };
	struct kh_idle_range *rg;
	struct kh_idle_scan sc;
	struct kh_idle st;
	size_t n;

	(void)state;
	assert_int_equal(kh_idle_init(&st, &test_vm), 0);
	scan(&st, all, 7, NULL, 0, &sc);
	scan(&st, all, 7, young, 1, &sc);
	/* ages: 0x100-0x101 = 2, 0x102 = 0, 0x104-0x105 = 2 (0x103 unknown), slot 2: 2 */
	assert_int_equal(kh_idle_ranges(&st, 1, &rg, &n), 0);
	assert_int_equal(n, 3);
	assert_true(rg[0].gfn_start == 0x100 && rg[0].gfn_end == 0x101 && rg[0].age == 2);
	assert_true(rg[0].hva_start == 0x7f0000000000ULL);
	assert_true(rg[0].hva_end == 0x7f0000000000ULL + 2 * 4096 - 1);
	assert_true(rg[1].gfn_start == 0x104 && rg[1].gfn_end == 0x105);
	assert_true(rg[2].gfn_start == 0x1000 && rg[2].gfn_end == 0x1001);
	assert_true(rg[2].hva_start == 0x7f1000000000ULL);
	free(rg);
	/* min age 0 takes the young page in, and it splits, not merges */
	assert_int_equal(kh_idle_ranges(&st, 0, &rg, &n), 0);
	assert_int_equal(n, 4);
	assert_true(rg[1].gfn_start == 0x102 && rg[1].gfn_end == 0x102 && rg[1].age == 0);
	free(rg);
	assert_int_equal(kh_idle_ranges(&st, 3, &rg, &n), 0);
	assert_int_equal(n, 0);
	free(rg);
	kh_idle_free(&st);
}

#define AGED KH_IDLE_S_AGED
#define YOUNG KH_IDLE_S_YOUNG

/* The table BPF adds by is 3^d; 40 digits of 2 fit a word, 41 would not. */
static void test_idle_pow3(void **state)
{
	uint64_t all = 0;

	(void)state;
	for (unsigned int d = 0; d < KH_IDLE_PPW; d++) {
		assert_true(kh_idle_pow3[d] == kh_t_pow3(d));
		all += 2 * kh_t_pow3(d);
	}
	assert_true(all == kh_t_pow3(KH_IDLE_PPW) - 1);
	assert_true(kh_t_pow3(KH_IDLE_PPW) > UINT64_MAX / 3);
}

/* Kernel-side states: layout, read-and-clear, ages. */
static void test_idle_bits(void **state)
{
	struct kh_idle_slot_desc d[KH_IDLE_SLOTS];
	struct kh_idle_scan sc;
	struct kh_idle st;
	uint64_t words, bits[80] = {};
	size_t nd;

	(void)state;
	assert_int_equal(kh_idle_init(&st, &test_vm), 0);
	words = kh_idle_bits_layout(&st, d, &nd);
	/*
	 * slot 0: 1024 pages, 40 a word = 26 words, then its 3 regions (gfns
	 * 0x100-0x4ff touch regions 0-2) in 1; slot 1: 8 pages in 1, 1 region in 1
	 */
	assert_int_equal(nd, 2);
	assert_int_equal(words, 29);
	assert_true(d[0].base_gfn == 0x100 && d[0].npages == 1024 && d[0].word_off == 0);
	assert_true(d[1].base_gfn == 0x1000 && d[1].word_off == 27);
	/* each descriptor names its VM: top and export give states to several */
	assert_true(d[0].pid == test_vm.pid && d[1].pid == test_vm.pid &&
		    d[0].region_off == 26 && d[1].region_off == 28);
	/* scan 1: pages 0, 1, 65 of slot 0 cleared, 1 young; page 3 of slot 1 the same */
	kh_t_raise(bits, 0, 0, AGED);
	kh_t_raise(bits, 0, 1, AGED);
	kh_t_raise(bits, 0, 1, YOUNG);
	kh_t_raise(bits, 0, 65, AGED);
	kh_t_raise(bits, 27, 3, YOUNG);
	kh_idle_update_bits(&st, bits, words, &sc);
	assert_int_equal(sc.aged, 4);
	assert_int_equal(sc.huge, 0);
	/* no range aged as one yet: 1 byte per page, no region array */
	assert_null(st.slots[0].huge);
	for (int i = 0; i < 29; i++)
		assert_true(bits[i] == 0);	/* read and cleared */
	assert_int_equal(kh_idle_age(&st, 0x100), 1);
	assert_int_equal(kh_idle_age(&st, 0x141), 1);
	/* young at our first clear: only primed (the bit dates from before us) */
	assert_int_equal(sc.young, 0);
	assert_int_equal(kh_idle_age(&st, 0x101), KH_IDLE_UNKNOWN);
	assert_int_equal(kh_idle_age(&st, 0x1003), KH_IDLE_UNKNOWN);
	assert_int_equal(kh_idle_age(&st, 0x102), KH_IDLE_UNKNOWN);
	/* scan 2: page 0 old again, page 1 young alone (a later accessed-bit clear) */
	kh_t_raise(bits, 0, 0, AGED);
	kh_t_raise(bits, 0, 1, YOUNG);
	kh_idle_update_bits(&st, bits, words, &sc);
	assert_int_equal(kh_idle_age(&st, 0x100), 2);
	assert_int_equal(kh_idle_age(&st, 0x101), 0);
	assert_int_equal(sc.young, 1);
	/* a whole word: its 40 pages (the last digit too), and none of the next word's */
	for (uint64_t p = 40; p < 80; p++)
		kh_t_raise(bits, 0, p, AGED);
	kh_idle_update_bits(&st, bits, words, &sc);
	assert_int_equal(sc.aged, 40);
	assert_int_equal(kh_idle_age(&st, 0x100 + 40), 1);
	assert_int_equal(kh_idle_age(&st, 0x100 + 79), 1);
	assert_int_equal(kh_idle_age(&st, 0x100 + 65), 2);
	assert_int_equal(kh_idle_age(&st, 0x100 + 80), KH_IDLE_UNKNOWN);
	/* a range aged as one (a huge mapping): its region's state, no page's */
	kh_t_raise(bits, 26, 1, AGED);
	kh_idle_update_bits(&st, bits, words, &sc);
	assert_true(sc.huge == 1 && sc.aged == 0);
	assert_non_null(st.slots[0].huge);
	assert_null(st.slots[1].huge);
	assert_int_equal(kh_idle_age(&st, 0x200), 1);
	assert_int_equal(kh_idle_age(&st, 0x3ff), 1);
	assert_int_equal(kh_idle_age(&st, 0x400), KH_IDLE_UNKNOWN);
	/* young at its first: only primed, as a page; young again: 0 */
	kh_t_raise(bits, 26, 2, YOUNG);
	kh_idle_update_bits(&st, bits, words, &sc);
	assert_int_equal(kh_idle_age(&st, 0x400), KH_IDLE_UNKNOWN);
	kh_t_raise(bits, 26, 2, YOUNG);
	kh_idle_update_bits(&st, bits, words, &sc);
	assert_int_equal(kh_idle_age(&st, 0x400), 0);
	/* a map shorter than the layout: nothing read past its end */
	bits[27] = 1;
	kh_idle_update_bits(&st, bits, 27, &sc);
	assert_true(bits[27] == 1);
	kh_idle_free(&st);
}

/*
 * Clears and tests share the states.  DAMON's pattern: a sample's clear
 * (its young stale on a page we never cleared) and its test 5 ms later
 * land in one scan; on a new page that only primes, whatever the test
 * said, so a cold page's first sample cannot read hot; on a page we
 * cleared before, a young result of either is an access.  MGLRU's: K
 * clears leave a cold page young only at the first at K-1, a hot one at 0.
 */
static void test_idle_bits_clear_test(void **state)
{
	struct kh_idle_slot_desc d[KH_IDLE_SLOTS];
	struct kh_idle_scan sc;
	struct kh_idle st;
	uint64_t words, bits[80] = {};
	size_t nd;

	(void)state;
	assert_int_equal(kh_idle_init(&st, &test_vm), 0);
	words = kh_idle_bits_layout(&st, d, &nd);
	/* scan 1, pages 0-2: 0 sampled (stale young clear, old test); 1 tested, old; 2 untouched */
	kh_t_raise(bits, 0, 0, YOUNG);
	kh_t_raise(bits, 0, 0, AGED);	/* the test after: a state only rises */
	kh_t_raise(bits, 0, 1, AGED);
	assert_int_equal(kh_t_state(bits, 0, 0), YOUNG);
	kh_idle_update_bits(&st, bits, words, &sc);
	assert_int_equal(kh_idle_age(&st, 0x100), KH_IDLE_UNKNOWN);
	assert_int_equal(kh_idle_age(&st, 0x101), 1);
	assert_int_equal(kh_idle_age(&st, 0x102), KH_IDLE_UNKNOWN);
	assert_int_equal(sc.young, 0);
	/* scan 2: page 0 (primed) sampled again, old: 1; page 1 young (clear or test): 0 */
	kh_t_raise(bits, 0, 0, AGED);
	kh_t_raise(bits, 0, 1, YOUNG);
	kh_idle_update_bits(&st, bits, words, &sc);
	assert_int_equal(kh_idle_age(&st, 0x100), 1);
	assert_int_equal(kh_idle_age(&st, 0x101), 0);
	assert_int_equal(sc.young, 1);
	for (int k = 0; k < 6; k++) {
		kh_t_raise(bits, 0, 64, k ? AGED : YOUNG);
		kh_t_raise(bits, 0, 65, YOUNG);
		kh_idle_update_bits(&st, bits, words, &sc);
	}
	assert_int_equal(kh_idle_age(&st, 0x140), 5);
	assert_int_equal(kh_idle_age(&st, 0x141), 0);
	kh_idle_free(&st);
}

static void test_idle_range_json(void **state)
{
	struct kh_idle_range r = { .gfn_start = 16, .gfn_end = 31, .hva_start = 0x10000,
				   .hva_end = 0x1ffff, .age = 3 };
	json_t *j = kh_idle_range_json(&r, 2.5);
	static const char *const keys[] = { "gfn_start", "gfn_end", "hva_start", "hva_end",
					    "idle_age", "idle_seconds" };

	(void)state;
	assert_int_equal(json_object_size(j), 6);
	for (size_t i = 0; i < 6; i++)
		assert_non_null(json_object_get(j, keys[i]));
	assert_int_equal(json_integer_value(json_object_get(j, "gfn_end")), 31);
	assert_int_equal(json_integer_value(json_object_get(j, "hva_end")), 0x1ffff);
	assert_true(json_real_value(json_object_get(j, "idle_seconds")) == 7.5);
	json_decref(j);
}

/* This host: probe -j lists every driver with its reason (none usable here). */
static void test_probe_lists_drivers(void **state)
{
	char cmd[512], *out = NULL;
	size_t len = 0;
	json_t *j, *d, *x;
	json_error_t e;
	FILE *f;
	size_t i;

	(void)state;
	if (!kh_is_root())
		KH_SKIP("kvmheat probe needs root");
	snprintf(cmd, sizeof(cmd), "%s/kvmheat probe -j 2>/dev/null", kh_build_dir());
	f = popen(cmd, "r");
	assert_non_null(f);
	{
		char buf[4096];
		size_t r;

		while ((r = fread(buf, 1, sizeof(buf), f)) > 0) {
			out = realloc(out, len + r + 1);
			memcpy(out + len, buf, r);
			len += r;
		}
	}
	pclose(f);
	assert_non_null(out);
	out[len] = 0;
	j = json_loads(out, 0, &e);
	assert_non_null(j);
	d = json_object_get(j, "age_drivers");
	assert_non_null(d);
	assert_int_equal(json_array_size(json_object_get(d, "drivers")), KH_AD_MAX);
	json_array_foreach(json_object_get(d, "drivers"), i, x) {
		const char *why = json_string_value(json_object_get(x, "reason"));

		printf("# %s: %s\n", json_string_value(json_object_get(x, "name")), why);
		assert_true(why && strlen(why) > 10);
		assert_true(json_is_boolean(json_object_get(x, "usable")));
	}
	printf("# chosen: %s\n", json_string_value(json_object_get(d, "chosen")));
	json_decref(j);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pagemap_pfns),
		cmocka_unit_test(test_pfn_words_and_bitmap),
		cmocka_unit_test(test_page_idle_scan),
		cmocka_unit_test(test_page_idle_refused),
		cmocka_unit_test(test_lrugen_parse),
		cmocka_unit_test(test_lrugen_age),
		cmocka_unit_test(test_mglru_cgroup_note),
		cmocka_unit_test(test_damon_ownership),
		cmocka_unit_test(test_damon_leftover),
		cmocka_unit_test(test_idle_ages),
		cmocka_unit_test(test_idle_huge),
		cmocka_unit_test(test_idle_ranges_merge),
		cmocka_unit_test(test_idle_pow3),
		cmocka_unit_test(test_idle_bits),
		cmocka_unit_test(test_idle_bits_clear_test),
		cmocka_unit_test(test_idle_range_json),
		cmocka_unit_test(test_probe_lists_drivers),
	};

	return cmocka_run_group_tests_name("test_idle", tests, setup, teardown);
}
