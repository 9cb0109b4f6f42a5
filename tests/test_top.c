// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `kvmheat top`: the row logic on synthetic maps, then live against
 * khguest: batch JSON rows follow the guest (appear, have non-zero rates
 * while it runs, drop to zero while it pauses, go away when it exits),
 * and the terminal UI driven through tmux the way a person would use it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <time.h>
#include "khtest.h"
#include "khlive.h"
#include <bpf/bpf.h>
#include "kh.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- rows from synthetic drained maps ---- */

static struct kh_slot slots_a[] = { { .base_gfn = 0, .npages = 256 } };
static struct kh_slot slots_b[] = { { .base_gfn = 0x100, .npages = 1024 } };

static void test_rows_sum_regions_per_vm(void **state)
{
	struct kh_vm vms[] = {
		{ .pid = 10, .nr_vcpus = 2, .comm = "vm-a", .nr_slots = 1, .slots = slots_a },
		{ .pid = 20, .nr_vcpus = 4, .comm = "vm-b", .nr_slots = 1, .slots = slots_b },
	};
	struct kh_vmset set = { .n = 2, .vms = vms };
	struct kh_key rk[] = { { .pid = 10, .idx = 0 }, { .pid = 20, .idx = 0 },
			       { .pid = 10, .idx = 1 }, { .pid = 99, .idx = 0 } };
	struct kh_region rv[ARRAY_SIZE(rk)];
	struct kh_gfn_stat g[3];
	struct kh_top_row rows[2];
	size_t n;

	memset(rv, 0, sizeof(rv));
	memset(g, 0, sizeof(g));
	rv[0].c.accesses = 100;
	rv[0].c.writes = 10;
	rv[0].c.tracked = 3;
	rv[0].touched[0] = 0xff;		/* 8 gfns */
	rv[0].touched[7] = 1ULL << 63;		/* and the last of the region */
	rv[1].c.accesses = 7;
	rv[1].c.spp = 2;
	rv[1].touched[1] = 0x3;
	rv[2].c.accesses = 1;
	rv[2].touched[3] = 0x10;
	rv[3].c.accesses = 1000;		/* a VM that exited: no row */
	/*
	 * vm-a: two gfns aged with a result, one of them accessed; vm-b: one
	 * aged through an HVA tracepoint, which gives no result: it must count
	 * neither as idle nor as known (top shows n/a, not 100 % or 0 %).
	 */
	g[0] = (struct kh_gfn_stat){ .pid = 10, .gfn = 1,
				     .c = { .aged = 1, .flags = KH_F_YOUNG_KNOWN } };
	g[1] = (struct kh_gfn_stat){ .pid = 10, .gfn = 2,
				     .c = { .aged = 2, .accesses = 1, .flags = KH_F_YOUNG_KNOWN } };
	g[2] = (struct kh_gfn_stat){ .pid = 20, .gfn = 0x100,
				     .c = { .accesses = 5, .aged = 3, .flags = KH_F_HVA_AGED } };

	n = kh_top_rows(&set, 0, rk, rv, ARRAY_SIZE(rk), g, ARRAY_SIZE(g), rows);
	assert_int_equal(n, 2);
	assert_int_equal(rows[0].pid, 10);
	assert_string_equal(rows[0].comm, "vm-a");
	assert_int_equal(rows[0].nr_vcpus, 2);
	assert_int_equal(rows[0].mem_bytes, 256 * 4096);
	assert_int_equal(rows[0].c.accesses, 101);
	assert_int_equal(rows[0].c.writes, 10);
	assert_int_equal(rows[0].c.tracked, 3);
	assert_int_equal(rows[0].wset, 10);
	assert_int_equal(rows[0].aged_gfns, 2);
	assert_int_equal(rows[0].idle_gfns, 1);
	assert_int_equal(rows[1].pid, 20);
	assert_int_equal(rows[1].c.accesses, 7);
	assert_int_equal(rows[1].c.spp, 2);
	assert_int_equal(rows[1].wset, 2);
	assert_int_equal(rows[1].aged_gfns, 0);
	assert_int_equal(rows[1].idle_gfns, 0);
	assert_true(kh_row_idle(&rows[1]) < 0);

	/* -p: only that VM's row */
	n = kh_top_rows(&set, 20, rk, rv, ARRAY_SIZE(rk), g, ARRAY_SIZE(g), rows);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].pid, 20);
	/* a VM with nothing in the interval still has its row, at zero */
	n = kh_top_rows(&set, 0, rk, rv, 0, g, 0, rows);
	assert_int_equal(n, 2);
	assert_int_equal(rows[0].c.accesses + rows[1].c.accesses + rows[0].wset, 0);
}

/* Rows carry the VM's name (the NAME column, and what p and f filter on). */
static void test_rows_carry_names(void **state)
{
	struct kh_slot sl = { .base_gfn = 0, .npages = 256 };
	struct kh_vm vms[2] = {
		{ .pid = 10, .nr_vcpus = 1, .comm = "qemu-system-x86",
		  .ident = { "web-1", "", KH_NAME_CMDLINE }, .nr_slots = 1, .slots = &sl },
		{ .pid = 11, .nr_vcpus = 2, .comm = "khguest",
		  .ident = { "khguest", "", KH_NAME_COMM }, .nr_slots = 1, .slots = &sl },
	};
	struct kh_vmset set = { .n = 2, .vms = vms };
	struct kh_top_row rows[2];

	assert_int_equal(kh_top_rows(&set, 0, NULL, NULL, 0, NULL, 0, rows), 2);
	assert_string_equal(rows[0].name, "web-1");
	assert_string_equal(rows[1].name, "khguest");
	kh_top_sort(rows, 2, KH_TOP_NAME, false);
	assert_int_equal(rows[0].pid, 11);	/* "khguest" < "web-1" */
}

static void test_rows_sort(void **state)
{
	struct kh_top_row r[3];

	memset(r, 0, sizeof(r));
	r[0] = (struct kh_top_row){ .pid = 3, .comm = "b", .c = { .accesses = 5, .writes = 9 } };
	r[1] = (struct kh_top_row){ .pid = 1, .comm = "c", .c = { .accesses = 50 } };
	r[2] = (struct kh_top_row){ .pid = 2, .comm = "a", .c = { .accesses = 5 },
				    .aged_gfns = 4, .idle_gfns = 1 };
	kh_top_sort(r, 3, KH_TOP_ACC, false);
	/* biggest first, ties in pid order */
	assert_int_equal(r[0].pid, 1);
	assert_int_equal(r[1].pid, 2);
	assert_int_equal(r[2].pid, 3);
	kh_top_sort(r, 3, KH_TOP_ACC, true);
	assert_int_equal(r[0].pid, 3);
	assert_int_equal(r[2].pid, 1);
	kh_top_sort(r, 3, KH_TOP_PID, false);
	assert_int_equal(r[0].pid, 1);
	assert_int_equal(r[2].pid, 3);
	kh_top_sort(r, 3, KH_TOP_COMM, false);
	assert_string_equal(r[0].comm, "a");
	assert_string_equal(r[2].comm, "c");
	kh_top_sort(r, 3, KH_TOP_WR, false);
	assert_int_equal(r[0].pid, 3);
	/* idle: a VM without aging data (-) sorts below one with 25 % */
	kh_top_sort(r, 3, KH_TOP_IDLE, false);
	assert_int_equal(r[0].pid, 2);
}

/* ---- draining a real BPF hash map ---- */

static int make_map(enum bpf_map_type type, int entries, int fill)
{
	int fd = bpf_map_create(type, "kh_test_drain", sizeof(struct kh_key),
				sizeof(struct kh_counts), entries, NULL);

	assert_true(fd >= 0);
	for (int i = 0; i < fill; i++) {
		struct kh_key k = { .pid = 7, .idx = 1000 + i };
		struct kh_counts c = { .accesses = i + 1, .writes = i };

		assert_int_equal(bpf_map_update_elem(fd, &k, &c, BPF_NOEXIST), 0);
	}
	return fd;
}

/* Every entry comes out exactly once with its value, and the map is left empty. */
static void check_drained(int fd, const struct kh_drain *d, size_t want)
{
	struct kh_key k;
	bool *seen = calloc(want, 1);

	assert_non_null(seen);
	assert_int_equal(d->n, want);
	for (size_t i = 0; i < d->n; i++) {
		const struct kh_key *key = (const struct kh_key *)d->keys + i;
		const struct kh_counts *c = (const struct kh_counts *)d->vals + i;
		uint64_t j = key->idx - 1000;

		assert_int_equal(key->pid, 7);
		assert_true(j < want);
		assert_false(seen[j]);
		seen[j] = true;
		assert_int_equal(c->accesses, j + 1);
		assert_int_equal(c->writes, j);
	}
	assert_int_not_equal(bpf_map_get_next_key(fd, NULL, &k), 0);
	free(seen);
}

static void test_drain_empties_maps(void **state)
{
	const enum bpf_map_type types[] = { BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH };

	if (!kh_is_root())
		KH_SKIP("creating BPF maps needs root");
	for (size_t t = 0; t < ARRAY_SIZE(types); t++) {
		struct kh_drain d = {};
		int fd;

		/* more than the first buffer (1024): the buffers grow */
		fd = make_map(types[t], 8192, 3000);
		assert_int_equal(kh_drain_map(fd, sizeof(struct kh_key), sizeof(struct kh_counts),
					      8192 + 256, &d), 0);
		check_drained(fd, &d, 3000);
		/* drained again: nothing, and the buffers are reused, not grown */
		assert_int_equal(kh_drain_map(fd, sizeof(struct kh_key), sizeof(struct kh_counts),
					      8192 + 256, &d), 0);
		assert_int_equal(d.n, 0);
		assert_int_equal(d.cap, 4096);
		close(fd);
		/* the key-by-key path older kernels take */
		fd = make_map(types[t], 8192, 2500);
		assert_int_equal(kh_drain_slow(fd, sizeof(struct kh_key), sizeof(struct kh_counts),
					       8192 + 256, &d), 0);
		check_drained(fd, &d, 2500);
		close(fd);
		kh_drain_free(&d);
		/*
		 * A cap: the rest stays in the map for the next interval.  Batch
		 * reads stop at a hash-bucket boundary (the bucket layout depends
		 * on the map's random hash seed), so a capped read may return a
		 * little less than the cap, never more, and nothing is lost.
		 */
		fd = make_map(types[t], 8192, 3000);
		assert_int_equal(kh_drain_map(fd, sizeof(struct kh_key), sizeof(struct kh_counts),
					      2048, &d), 0);
		assert_true(d.n <= 2048 && d.n >= 2048 - 64);
		{
			size_t first = d.n;

			assert_int_equal(kh_drain_map(fd, sizeof(struct kh_key),
						      sizeof(struct kh_counts), 2048, &d), 0);
			assert_int_equal(first + d.n, 3000);
		}
		close(fd);
		kh_drain_free(&d);
	}
}

/* ---- live ---- */

/* Every JSON line of a file; lines that do not parse fail the test. */
static size_t json_lines(const char *path, json_t **out, size_t max)
{
	char *s = slurp(path), *save = NULL;
	size_t n = 0;

	for (char *l = strtok_r(s, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save)) {
		json_error_t je;

		out[n] = json_loads(l, 0, &je);
		if (!out[n])
			printf("# bad JSON line: %s (%s)\n", l, je.text);
		assert_non_null(out[n]);
		n++;
	}
	free(s);
	return n;
}

/*
 * top -b -j over a guest's whole life: its row appears with non-zero
 * rates while it runs, shows zero while it pauses (the intervals are not
 * cumulative), and is gone once it exited.
 */
static void test_top_batch_follows_guest(void **state)
{
	char guest[256], kvmheat[256];
	json_t *iv[128];
	struct proc k, g;
	size_t n, busy = 0, idle_after_busy = 0, last_seen = 0, first_seen = 0;
	bool seen = false;
	int rc;

	need_kvm();
	path_of(guest, sizeof(guest), "khguest");
	path_of(kvmheat, sizeof(kvmheat), "kvmheat");
	spawn(&k, (char *const[]){ kvmheat, "top", "-b", "-j", "-d", "0.5", "-n", "100", NULL });
	live_track(state, k.pid);
	if (!wait_for(k.err, "watching", 30)) {
		show("kvmheat stderr", k.err);
		kill(k.pid, SIGKILL);
		fail_msg("top did not start");
	}
	/* two 2 s pauses (after each phase) with the hot loop in between */
	spawn(&g, (char *const[]){ guest, "--hot", "256", "--cold", "256", "--rounds", "300",
				   "--pause-ms", "2000", "--layout", "contiguous", NULL });
	live_track(state, g.pid);
	rc = wait_exit(g.pid, 90);
	if (rc)
		show("khguest stderr", g.err);
	assert_int_equal(rc, 0);
	sleep(2);	/* a few intervals after the exit */
	kill(k.pid, SIGINT);
	rc = wait_exit(k.pid, 20);
	if (rc)
		show("kvmheat stderr", k.err);
	assert_int_equal(rc, 0);

	n = json_lines(k.out, iv, ARRAY_SIZE(iv));
	printf("# %zu intervals\n", n);
	assert_true(n >= 8);
	for (size_t i = 0; i < n; i++) {
		json_t *vm = vm_of(iv[i], g.pid);
		double rate = vm ? json_real_value(json_object_get(vm, "accesses_per_s")) : 0;
		double dt = json_real_value(json_object_get(iv[i], "interval_s"));

		assert_int_equal(jint(iv[i], "iteration"), i + 1);
		if (!vm)
			continue;
		if (!seen)
			first_seen = i;
		seen = true;
		last_seen = i;
		assert_string_equal(json_string_value(json_object_get(vm, "comm")), "khguest");
		assert_int_equal(jint(vm, "vcpus"), 1);
		assert_int_equal(jint(vm, "memory_bytes") >> 20, 64);
		/* the rate is this interval's count over this interval's length */
		assert_true(rate * dt > jint(vm, "accesses") - 1 &&
			    rate * dt < jint(vm, "accesses") + 1);
		if (rate > 1000) {
			busy++;
			assert_true(jint(vm, "working_set_gfns") >= 256);
		} else if (busy && jint(vm, "accesses") == 0) {
			idle_after_busy++;
		}
	}
	printf("# guest seen in intervals %zu..%zu: %zu busy, %zu idle after busy ones\n",
	       first_seen + 1, last_seen + 1, busy, idle_after_busy);
	assert_true(seen);
	assert_true(busy >= 2);
	/* a pause after activity reads zero: counts do not carry over */
	assert_true(idle_after_busy >= 2);
	/* gone after it exited, and for good */
	assert_true(last_seen + 2 < n);
	for (size_t i = 0; i < n; i++)
		json_decref(iv[i]);
	proc_cleanup(&k);
	proc_cleanup(&g);
}

/* ---- the terminal UI, through tmux ---- */

struct tmux {
	char sock[64];
	char sess[64];
};

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* What the pane shows now, as text. */
static char *capture(const struct tmux *t)
{
	char path[] = "/tmp/kh-top-pane-XXXXXX", *s;

	temp_file(path);
	sh("tmux -L %s capture-pane -p -t %s > %s 2>/dev/null", t->sock, t->sess, path);
	s = slurp(path);
	unlink(path);
	return s;
}

static bool pane_wait(const struct tmux *t, const char *needle, double seconds)
{
	for (int i = 0; i < seconds * 10; i++) {
		char *s = capture(t);
		bool hit = strstr(s, needle) != NULL;

		free(s);
		if (hit)
			return true;
		usleep(100000);
	}
	return false;
}

static void show_pane(const struct tmux *t, const char *what)
{
	char *s = capture(t);

	printf("# --- %s ---\n", what);
	for (char *l = strtok(s, "\n"); l; l = strtok(NULL, "\n"))
		printf("# |%s\n", l);
	free(s);
}

/* The line after the line that starts with @title, or NULL. */
static char *line_after(char *pane, const char *title)
{
	char *p = strstr(pane, title), *nl;

	if (!p || !(nl = strchr(p, '\n')))
		return NULL;
	p = nl + 1;
	nl = strchr(p, '\n');
	if (nl)
		*nl = 0;
	return p;
}

/* Ranked: accesses per page never grow down the range list. */
static void check_ranked(const char *pane)
{
	char *copy = strdup(pane), *p = strstr(copy, "GFN RANGE"), *save = NULL;
	unsigned long long prev = ~0ULL, pp;
	int rows = 0;

	assert_non_null(p);
	p = strchr(p, '\n') + 1;
	for (char *l = strtok_r(p, "\n", &save); l && !strncmp(l, "0x", 2);
	     l = strtok_r(NULL, "\n", &save), rows++) {
		assert_int_equal(sscanf(l, "%*s %*s %*u %*u %*u %llu", &pp), 1);
		assert_true(pp <= prev);
		prev = pp;
	}
	assert_true(rows >= 3);
	free(copy);
}

/*
 * A person's session: start top in a 120x45 terminal, filter to the
 * guest (p PID Enter), open it (Enter), step to its data memslot (m m),
 * read the hottest range, the strip and the written sub-pages, go back
 * (Esc), shrink the terminal, and quit (q).
 */
static void test_top_tui_drilldown(void **state)
{
	char guest[256], kvmheat[256], rcfile[] = "/tmp/kh-top-rc-XXXXXX", *pane, *row;
	unsigned long long lo = 0, hi = 0, data_gfn = 0x40000, hot = 128;
	struct tmux t;
	struct proc g;
	char key[32], name[48];
	int got;

	need_kvm();
	if (sh("tmux -V > /dev/null 2>&1"))
		KH_SKIP("tmux is not installed (apt-get install tmux)");
	path_of(guest, sizeof(guest), "khguest");
	path_of(kvmheat, sizeof(kvmheat), "kvmheat");
	temp_file(rcfile);
	snprintf(t.sock, sizeof(t.sock), "kh-test-%d", getpid());
	snprintf(((struct live *)*state)->tmux_sock, sizeof(t.sock), "%s", t.sock);
	snprintf(t.sess, sizeof(t.sess), "top");
	/* hot pages first in the data slot, every 8th one written at byte 0x280 */
	/* named as QEMU names VMs, so the NAME column and the p filter can be checked */
	snprintf(name, sizeof(name), "kh-tui-%d", getpid());
	spawn(&g, (char *const[]){ guest, "-name", name, "--hot", "128", "--cold", "256",
				   "--rounds", "3000", "--write-frac", "0.125", "--offset", "640",
				   "--layout", "contiguous", "--seed", "4",
				   /* 60 pauses keep it alive >= 18 s on a fast machine too:
				    * it once exited before the drill-down was read */
				   "--hot-phases", "60", "--pause-ms", "300", NULL });
	live_track(state, g.pid);
	assert_true(wait_for(g.err, "ready", 10));
	assert_int_equal(sh("tmux -L %s new-session -d -s %s -x 120 -y 45 "
			    "'%s top -d 1; echo $? > %s'", t.sock, t.sess, kvmheat, rcfile), 0);
	if (!pane_wait(&t, "PID COMM", 30)) {
		show_pane(&t, "pane");
		fail_msg("top's table did not appear");
	}
	snprintf(key, sizeof(key), "%d", g.pid);
	if (!pane_wait(&t, key, 10)) {
		show_pane(&t, "pane");
		fail_msg("the guest's row did not appear");
	}
	assert_true(pane_wait(&t, "NAME", 5));
	assert_true(pane_wait(&t, name, 5));
	/* select the guest by filtering to its name, then open it */
	sh("tmux -L %s send-keys -t %s p %s Enter", t.sock, t.sess, name);
	assert_true(pane_wait(&t, "1 of ", 5));
	sh("tmux -L %s send-keys -t %s Enter", t.sock, t.sess);
	assert_true(pane_wait(&t, "GFN RANGE", 5));
	/* all memslots first: the guest's own code page can be the hottest */
	sleep(2);
	pane = capture(&t);
	check_ranked(pane);
	free(pane);
	sh("tmux -L %s send-keys -t %s m m", t.sock, t.sess);
	if (!pane_wait(&t, "ranges in memslot 1", 5)) {
		show_pane(&t, "pane");
		fail_msg("m did not step to the data memslot");
	}
	sleep(2);	/* a whole interval inside the hot loop */
	pane = capture(&t);
	show_pane(&t, "drill-down");
	{
		char *p = strstr(pane, "VM "), want[64];

		assert_non_null(p);
		assert_non_null(strstr(p, key));
		snprintf(want, sizeof(want), "(%s)", name);	/* the name, not the comm */
		assert_non_null(strstr(pane, want));
	}
	check_ranked(pane);
	/* the top range is inside the hot set: gfns 0x40000..0x4007f */
	row = line_after(pane, "GFN RANGE");
	assert_non_null(row);
	got = sscanf(row, "0x%llx-0x%llx", &lo, &hi);
	if (got == 1)
		hi = lo;
	assert_true(got >= 1);
	printf("# top range 0x%llx-0x%llx\n", lo, hi);
	assert_true(lo >= data_gfn && hi < data_gfn + hot);
	free(pane);
	pane = capture(&t);
	/* the strip: heat at the start of memory (control slot, hot set), none at the end */
	{
		char *s = strstr(pane, "heat |"), *end;

		assert_non_null(s);
		s += strlen("heat |");
		end = strchr(s, '|');
		assert_non_null(end);
		assert_true(end - s >= 100);
		assert_true(s[0] != ' ');
		for (char *c = s + 4; c < end; c++)
			assert_int_equal(*c, ' ');
	}
	/* most written: sub-page 5 (byte 640 / 128) of written hot pages */
	row = line_after(pane, "MOST WRITTEN GFN");
	assert_non_null(row);
	printf("# most written: %s\n", row);
	{
		unsigned long long wg;
		char mask[40], want[KH_SUBPAGES + 1];

		kh_mask_str(1U << (640 >> KH_SUBPAGE_SHIFT), want);
		assert_int_equal(sscanf(row, "0x%llx %*u %39s", &wg, mask), 2);
		assert_true(wg >= data_gfn && wg < data_gfn + hot);
		assert_string_equal(mask, want);
	}
	free(pane);

	/* Esc: back to the table */
	sh("tmux -L %s send-keys -t %s Escape", t.sock, t.sess);
	assert_true(pane_wait(&t, "PID COMM", 5));
	pane = capture(&t);
	assert_null(strstr(pane, "GFN RANGE"));
	free(pane);
	/* a terminal too small says so, and recovers when it grows again */
	sh("tmux -L %s resize-window -t %s -x 50 -y 8", t.sock, t.sess);
	if (!pane_wait(&t, "too small", 5)) {
		show_pane(&t, "small pane");
		fail_msg("no message for a small terminal");
	}
	sh("tmux -L %s resize-window -t %s -x 120 -y 45", t.sock, t.sess);
	assert_true(pane_wait(&t, "PID COMM", 5));
	/* q: quits with status 0 */
	sh("tmux -L %s send-keys -t %s q", t.sock, t.sess);
	for (int i = 0; i < 50 && !sh("tmux -L %s has-session -t %s 2>/dev/null", t.sock, t.sess);
	     i++)
		usleep(100000);
	pane = slurp(rcfile);
	printf("# top exit status: %s", pane);
	assert_string_equal(pane, "0\n");
	free(pane);
	sh("tmux -L %s kill-server 2>/dev/null", t.sock);
	kill(g.pid, SIGTERM);
	wait_exit(g.pid, 10);
	unlink(rcfile);
	proc_cleanup(&g);
}

static void test_top_needs_terminal_or_batch(void **state)
{
	char kvmheat[256];
	struct proc k;
	char *err;

	path_of(kvmheat, sizeof(kvmheat), "kvmheat");
	/* stdout is a file here: the live view refuses, before touching BPF */
	spawn(&k, (char *const[]){ kvmheat, "top", NULL });
	assert_int_equal(wait_exit(k.pid, 10), 2);
	err = slurp(k.err);
	assert_non_null(strstr(err, "use -b"));
	free(err);
	proc_cleanup(&k);
	spawn(&k, (char *const[]){ kvmheat, "top", "-b", "-d", "0", NULL });
	assert_int_equal(wait_exit(k.pid, 10), 2);
	proc_cleanup(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_sum_regions_per_vm),
		cmocka_unit_test(test_rows_sort),
		cmocka_unit_test(test_rows_carry_names),
		cmocka_unit_test(test_drain_empties_maps),
		cmocka_unit_test(test_top_needs_terminal_or_batch),
		LIVE_TEST(test_top_batch_follows_guest),
		LIVE_TEST(test_top_tui_drilldown),
	};

	return cmocka_run_group_tests_name("top (rows, batch, terminal UI)", tests, NULL, NULL);
}
