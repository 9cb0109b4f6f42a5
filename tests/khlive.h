/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Helpers of the tests that run programs (test_e2e, test_record, test_top,
 * test_trace, test_datafile): child processes with captured output, a
 * scratch directory, khguest workloads traced from the start, the
 * comparison of kvmheat's per-gfn view with khguest's ground truth, and
 * teardown of what a test started.
 */
#ifndef KHLIVE_H
#define KHLIVE_H

#include <errno.h>
#include <signal.h>
#include <time.h>
#include <sys/wait.h>
#include <jansson.h>
#include "khtest.h"
#include "kvmheat.h"

#define MAX_ARGS 48

struct proc {
	pid_t pid;
	char out[128];
	char err[128];
};

static inline void path_of(char *buf, size_t len, const char *prog)
{
	snprintf(buf, len, "%s/%s", kh_build_dir(), prog);
}

/* Start argv with stdout and stderr to fresh temp files. */
static inline void spawn(struct proc *p, char *const argv[])
{
	int fo, fe;

	snprintf(p->out, sizeof(p->out), "/tmp/kh-e2e-out-XXXXXX");
	snprintf(p->err, sizeof(p->err), "/tmp/kh-e2e-err-XXXXXX");
	fo = mkstemp(p->out);
	fe = mkstemp(p->err);
	assert_true(fo >= 0 && fe >= 0);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (!p->pid) {
		dup2(fo, 1);
		dup2(fe, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fo);
	close(fe);
}

/* kh_slurp, with "" for a file that is not there (output never written). */
static inline char *slurp(const char *path)
{
	char *s = kh_slurp(path);

	return s ? s : strdup("");
}

/* Wait until @needle shows up in @path (a child's stderr). */
static inline bool wait_for(const char *path, const char *needle, double seconds)
{
	for (int i = 0; i < seconds * 20; i++) {
		char *s = slurp(path);
		bool hit = strstr(s, needle) != NULL;

		free(s);
		if (hit)
			return true;
		usleep(50000);
	}
	return false;
}

static inline int wait_exit(pid_t pid, double seconds)
{
	int st;

	for (int i = 0; i < seconds * 20; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* An empty temp file from @tmpl ("...XXXXXX"), for a child to write into. */
static inline void temp_file(char *tmpl)
{
	int fd = mkstemp(tmpl);

	assert_true(fd >= 0);
	close(fd);
}

static inline void proc_cleanup(struct proc *p)
{
	unlink(p->out);
	unlink(p->err);
}

/* Text into the TAP log, one "# " line each. */
static inline void print_lines(const char *s)
{
	char *dup = strdup(s), *save = NULL;

	for (char *l = strtok_r(dup, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		printf("# %s\n", l);
	free(dup);
}

/* Print a child's stderr into the TAP log when something went wrong. */
static inline void show(const char *what, const char *path)
{
	char *s = slurp(path);

	printf("# --- %s ---\n", what);
	print_lines(s);
	free(s);
}

/* A scratch directory for a test group: its setup and teardown, and paths in it. */
static char *tmpdir __attribute__((unused));

static inline int tmpdir_setup(void **state)
{
	char t[64];

	snprintf(t, sizeof(t), "/tmp/kh-%s-XXXXXX", program_invocation_short_name);
	tmpdir = mkdtemp(t) ? strdup(t) : NULL;
	return tmpdir ? 0 : -1;
}

static inline int tmpdir_teardown(void **state)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd))
		return -1;
	free(tmpdir);
	return 0;
}

static inline void tpath(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

/* Absolute path of a built program (the caller frees it): children run in tmpdir. */
static inline char *bin(const char *prog)
{
	char cwd[512], *p;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	if (asprintf(&p, "%s%s%s/%s", kh_build_dir()[0] == '/' ? "" : cwd,
		     kh_build_dir()[0] == '/' ? "" : "/", kh_build_dir(), prog) < 0)
		fail();
	return p;
}

/* Run to completion in tmpdir; stdout and stderr come back in *out, *err. */
static inline int run(char **out, char **err, double secs, char *const args[])
{
	char cwd[512];
	struct proc p;
	int rc;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tmpdir), 0);
	spawn(&p, args);
	assert_int_equal(chdir(cwd), 0);
	rc = wait_exit(p.pid, secs);
	*out = slurp(p.out);
	*err = slurp(p.err);
	proc_cleanup(&p);
	return rc;
}

static inline int64_t jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* The entry of @pid in the "vms" array of kvmheat's JSON (heat, top, report). */
static inline json_t *vm_of(json_t *root, pid_t pid)
{
	json_t *vms = json_object_get(root, "vms");

	for (size_t i = 0; i < json_array_size(vms); i++)
		if (jint(json_array_get(vms, i), "pid") == pid)
			return json_array_get(vms, i);
	return NULL;
}

/*
 * Compare kvmheat's per-gfn table for the data slot with the truth:
 * the hot set (accesses at or above the midpoint between the hot and
 * cold access counts), read/write separation and sub-page masks.
 */
static inline void kh_check_truth(json_t *truth, json_t *gfns)
{
	json_t *pages = json_object_get(truth, "pages");
	json_t *pat = json_object_get(truth, "pattern");
	uint64_t base = jint(truth, "data_gpa") >> KH_PAGE_SHIFT;
	uint64_t npages = jint(truth, "data_pages");
	int64_t hot_acc = jint(pat, "hot_accesses"), cold_acc = jint(pat, "cold_accesses");
	double threshold = (hot_acc + cold_acc) / 2.0, precision, recall;
	size_t tp = 0, fp = 0, fn = 0, rw_ok = 0, sp_ok = 0, written = 0;
	size_t ntruth = json_array_size(pages);
	int64_t *acc = calloc(npages, sizeof(*acc)), *wr = calloc(npages, sizeof(*wr));
	uint32_t *mask = calloc(npages, sizeof(*mask));
	bool *hot = calloc(npages, sizeof(*hot));

	assert_true(acc && wr && mask && hot);
	/* kvmheat's view of the data slot */
	for (size_t i = 0; i < json_array_size(gfns); i++) {
		json_t *e = json_array_get(gfns, i);
		uint64_t gfn = jint(e, "gfn");

		if (gfn < base || gfn >= base + npages)
			continue;
		acc[gfn - base] = jint(e, "accesses");
		wr[gfn - base] = jint(e, "writes");
		mask[gfn - base] = strtoul(json_string_value(json_object_get(e,
						"subpage_write_mask")), NULL, 16);
	}
	/* per truth page: written vs read-only, and the written sub-page */
	for (size_t i = 0; i < ntruth; i++) {
		json_t *p = json_array_get(pages, i);
		uint64_t g = jint(p, "gfn") - base;
		int64_t w = jint(p, "writes");

		assert_true(g < npages);
		hot[g] = json_is_true(json_object_get(p, "hot"));
		rw_ok += acc[g] > 0 && wr[g] == w;
		if (w) {
			written++;
			sp_ok += mask[g] == 1U << (jint(p, "offset") >> KH_SUBPAGE_SHIFT);
		}
	}
	/* hot set: what kvmheat calls hot against what the guest made hot */
	for (uint64_t g = 0; g < npages; g++) {
		bool said = acc[g] >= threshold;

		tp += said && hot[g];
		fp += said && !hot[g];
		fn += !said && hot[g];
	}
	precision = tp + fp ? (double)tp / (tp + fp) : 0;
	recall = tp + fn ? (double)tp / (tp + fn) : 0;
	printf("# hot set (>= %.1f accesses): tp %zu fp %zu fn %zu, precision %.4f recall %.4f; "
	       "read/write right for %zu of %zu pages; sub-page right for %zu of %zu written\n",
	       threshold, tp, fp, fn, precision, recall, rw_ok, ntruth, sp_ok, written);
	free(acc);
	free(wr);
	free(mask);
	free(hot);
	assert_true(tp > 0);
	assert_true(precision >= 0.99);
	assert_true(recall >= 0.99);
	assert_true(written > 0);
	assert_true(rw_ok >= 0.99 * ntruth);
	assert_true(sp_ok >= 0.99 * written);
}

/* khguest arguments for a random workload; KH_E2E_SEED=N replays a failed run's. */
struct workload {
	char hot[16], cold[16], rounds[16], wf[16], off[16], sd[16];
	const char *argv[20];
};

static inline const char *const *random_workload(struct workload *w)
{
	const char *env = getenv("KH_E2E_SEED");
	unsigned int seed = env ? strtoul(env, NULL, 0) : (unsigned int)time(NULL);
	const char **g = w->argv;
	int n = 0;

	printf("# KH_E2E_SEED=%u\n", seed);
	srand(seed);
	snprintf(w->hot, sizeof(w->hot), "%d", 50 + rand() % 350);
	snprintf(w->cold, sizeof(w->cold), "%d", 100 + rand() % 1400);
	snprintf(w->rounds, sizeof(w->rounds), "%d", 4 + rand() % 27);
	snprintf(w->wf, sizeof(w->wf), "%.2f", 0.1 + (rand() % 50) / 100.0);
	if (rand() % 2)
		snprintf(w->off, sizeof(w->off), "random");
	else
		snprintf(w->off, sizeof(w->off), "%d", rand() % 4096);
	snprintf(w->sd, sizeof(w->sd), "%u", seed);
	g[n++] = "--hot"; g[n++] = w->hot;
	g[n++] = "--cold"; g[n++] = w->cold;
	g[n++] = "--rounds"; g[n++] = w->rounds;
	g[n++] = "--write-frac"; g[n++] = w->wf;
	g[n++] = "--offset"; g[n++] = w->off;
	g[n++] = "--seed"; g[n++] = w->sd;
	g[n++] = "--layout"; g[n++] = rand() % 2 ? "random" : "contiguous";
	g[n] = NULL;
	printf("# khguest --hot %s --cold %s --rounds %s --write-frac %s --offset %s --layout %s\n",
	       w->hot, w->cold, w->rounds, w->wf, w->off, g[n - 1]);
	return w->argv;
}

static inline void need_kvm(void)
{
	if (!kh_is_root())
		KH_SKIP("live tests need root");
	if (access("/dev/kvm", R_OK | W_OK))
		KH_SKIP("no usable /dev/kvm: %s", strerror(errno));
}

/*
 * What a live test started: its teardown stops it even when an assertion
 * failed half-way.  Only children that waitpid() says are still ours and
 * running are killed, so a reaped pid that was reused is never touched.
 */
struct live {
	pid_t pids[8];
	int n;
	char tmux_sock[64];
};

static inline int live_setup(void **state)
{
	*state = calloc(1, sizeof(struct live));
	return *state ? 0 : -1;
}

static inline void live_track(void **state, pid_t pid)
{
	struct live *l = state ? *state : NULL;

	if (l && l->n < (int)(sizeof(l->pids) / sizeof(l->pids[0])))
		l->pids[l->n++] = pid;
}

static inline int live_teardown(void **state)
{
	struct live *l = *state;
	char cmd[128];

	if (!l)
		return 0;
	for (int i = 0; i < l->n; i++) {
		if (waitpid(l->pids[i], NULL, WNOHANG) != 0)
			continue;	/* reaped already, or just now */
		kill(l->pids[i], SIGKILL);
		waitpid(l->pids[i], NULL, 0);
	}
	if (l->tmux_sock[0]) {
		snprintf(cmd, sizeof(cmd), "tmux -L %s kill-server 2>/dev/null", l->tmux_sock);
		if (system(cmd) < 0)
			perror("tmux kill-server");
	}
	free(l);
	*state = NULL;
	return 0;
}

#define LIVE_TEST(f)	cmocka_unit_test_setup_teardown(f, live_setup, live_teardown)

/* A guest traced from its first instruction: its truth file and both processes. */
struct traced_guest {
	char truth[64];
	struct proc g, k;
};

/*
 * khguest --wait-signal --truth TRUTH GARGS, then kvmheat CMD -j -p PID
 * -d SECS KARGS; the guest is released once kvmheat says it is tracing.
 * The caller waits for both and unlinks t->truth.
 */
static inline void start_traced(void **state, struct traced_guest *t, const char *cmd,
				const char *secs, const char *const gargs[],
				const char *const kargs[])
{
	char guest[256], kvmheat[256], pidstr[16], *gv[MAX_ARGS], *kv[MAX_ARGS];
	int n = 0;

	snprintf(t->truth, sizeof(t->truth), "/tmp/kh-%s-truth-XXXXXX", cmd);
	temp_file(t->truth);
	path_of(guest, sizeof(guest), "khguest");
	path_of(kvmheat, sizeof(kvmheat), "kvmheat");
	gv[n++] = guest;
	gv[n++] = "--wait-signal";
	gv[n++] = "--truth";
	gv[n++] = t->truth;
	for (int i = 0; gargs[i]; i++)
		gv[n++] = (char *)gargs[i];
	gv[n] = NULL;
	spawn(&t->g, gv);
	live_track(state, t->g.pid);
	if (!wait_for(t->g.err, "ready", 10)) {
		show("khguest stderr", t->g.err);
		kill(t->g.pid, SIGKILL);
		fail_msg("khguest did not get ready");
	}
	snprintf(pidstr, sizeof(pidstr), "%d", t->g.pid);
	n = 0;
	kv[n++] = kvmheat;
	kv[n++] = (char *)cmd;
	kv[n++] = "-j";
	kv[n++] = "-p";
	kv[n++] = pidstr;
	kv[n++] = "-d";
	kv[n++] = (char *)secs;
	for (int i = 0; kargs && kargs[i]; i++)
		kv[n++] = (char *)kargs[i];
	kv[n] = NULL;
	spawn(&t->k, kv);
	live_track(state, t->k.pid);
	if (!wait_for(t->k.err, "tracing", 30)) {
		show("kvmheat stderr", t->k.err);
		kill(t->g.pid, SIGKILL);
		kill(t->k.pid, SIGKILL);
		fail_msg("kvmheat %s did not attach", cmd);
	}
	kill(t->g.pid, SIGUSR1);
}

#endif /* KHLIVE_H */
