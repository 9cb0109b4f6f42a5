/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Helpers for live tests (test_e2e, test_top): start kvmheat and khguest
 * with their output in temp files, wait for what they print, and tidy up.
 */
#ifndef KHLIVE_H
#define KHLIVE_H

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <jansson.h>
#include "khtest.h"

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

static inline char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, n + 1);
	if (fread(buf, 1, n, f) != (size_t)n)
		buf[0] = 0;
	fclose(f);
	return buf;
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

static inline void proc_cleanup(struct proc *p)
{
	unlink(p->out);
	unlink(p->err);
}

/* Print a child's stderr into the TAP log when something went wrong. */
static inline void show(const char *what, const char *path)
{
	char *s = slurp(path);

	printf("# --- %s ---\n", what);
	for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n"))
		printf("# %s\n", line);
	free(s);
}

static inline int64_t jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
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
	struct live *l = *state;

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

#endif /* KHLIVE_H */
