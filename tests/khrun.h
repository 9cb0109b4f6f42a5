/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Running a program and keeping all it printed, for the tests of what ships
 * (test_docs, test_cli, test_completion, test_install): the exit status,
 * stdout and stderr whole (help texts, JSON, a nested test run's TAP), and
 * the bash completion called the way bash calls it.
 */
#ifndef KHRUN_H
#define KHRUN_H

#include <poll.h>
#include <sys/wait.h>
#include "khtest.h"

struct kh_run {
	int rc;			/* exit status, or 128 + signal */
	char *out, *err;	/* NUL-terminated, malloc'd */
};

static inline void kh_run_free(struct kh_run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

/* Appends what @fd has to *@buf; false at end of file. */
static inline bool kh_run_read(int fd, char **buf, size_t *len)
{
	char chunk[4096];
	ssize_t n = read(fd, chunk, sizeof(chunk));

	if (n <= 0)
		return false;
	*buf = realloc(*buf, *len + n + 1);
	assert_non_null(*buf);
	memcpy(*buf + *len, chunk, n);
	*len += n;
	(*buf)[*len] = 0;
	return true;
}

/* Run @argv (argv[0] a path, or a name looked up in PATH) with the "K=V"
 * strings of @env (NULL-terminated, may be NULL) added to the environment. */
static inline void kh_runv(struct kh_run *r, char *const env[], char *const argv[])
{
	int po[2], pe[2], st;
	size_t lo = 0, le = 0;
	struct pollfd p[2];
	pid_t pid;

	r->out = calloc(1, 1);
	r->err = calloc(1, 1);
	assert_true(r->out && r->err);
	assert_int_equal(pipe(po), 0);
	assert_int_equal(pipe(pe), 0);
	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		for (int i = 0; env && env[i]; i++)
			putenv(env[i]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	p[0] = (struct pollfd){ .fd = po[0], .events = POLLIN };
	p[1] = (struct pollfd){ .fd = pe[0], .events = POLLIN };
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		if (poll(p, 2, -1) < 0)
			break;
		if (p[0].revents && !kh_run_read(p[0].fd, &r->out, &lo)) {
			close(p[0].fd);
			p[0].fd = -1;
		}
		if (p[1].revents && !kh_run_read(p[1].fd, &r->err, &le)) {
			close(p[1].fd);
			p[1].fd = -1;
		}
	}
	waitpid(pid, &st, 0);
	r->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The kvmheat under test with @args (NULL-terminated). */
static inline void kh_run_kvmheat(struct kh_run *r, char *const args[])
{
	char path[512], *argv[40];
	int n = 0;

	argv[n++] = (char *)kh_kvmheat_path(path, sizeof(path));
	for (int i = 0; args[i] && n < 39; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	kh_runv(r, NULL, argv);
}

/*
 * What the bash completion offers for the command line @words (words[0] is
 * the command as typed) with the cursor at the end of word @cword: the
 * script is sourced in a clean bash and _kvmheat is called with
 * COMP_WORDS/COMP_CWORD set, as bash does on Tab.  One candidate a line.
 */
static inline char *kh_complete_as(const char *script, char *const env[],
				   const char *const as[], int cword, char *const words[])
{
	static const char prog[] =
		"source \"$1\" || exit 99; shift; cw=$1; shift\n"
		"COMP_WORDS=(\"$@\"); COMP_CWORD=$cw\n"
		"COMP_LINE=\"${COMP_WORDS[*]}\"; COMP_POINT=${#COMP_LINE}\n"
		"_kvmheat \"${COMP_WORDS[0]}\" \"${COMP_WORDS[cw]}\" \"${COMP_WORDS[cw-1]}\"\n"
		"printf '%s\\n' \"${COMPREPLY[@]}\" | sed '/^$/d'\n";
	char cw[16], *argv[48];
	struct kh_run r;
	int n = 0;

	snprintf(cw, sizeof(cw), "%d", cword);
	/* @as: a command that runs bash as someone else (setpriv ...) */
	for (int i = 0; as && as[i] && n < 8; i++)
		argv[n++] = (char *)as[i];
	argv[n++] = "bash";
	argv[n++] = "--norc";
	argv[n++] = "--noprofile";
	argv[n++] = "-c";
	argv[n++] = (char *)prog;
	argv[n++] = "bash";
	argv[n++] = (char *)script;
	argv[n++] = cw;
	for (int i = 0; words[i] && n < 47; i++)
		argv[n++] = words[i];
	argv[n] = NULL;
	kh_runv(&r, env, argv);
	if (r.rc || r.err[0])
		printf("# completion exited %d: %s\n", r.rc, r.err);
	assert_int_equal(r.rc, 0);
	free(r.err);
	return r.out;
}

static inline char *kh_complete_env(const char *script, char *const env[], int cword,
				    char *const words[])
{
	return kh_complete_as(script, env, NULL, cword, words);
}

static inline char *kh_complete(const char *script, int cword, char *const words[])
{
	return kh_complete_env(script, NULL, cword, words);
}

/* Whether line-list @list holds the line @word. */
static inline bool kh_has_line(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p++)
		if ((p == list || p[-1] == '\n') && (p[n] == '\n' || !p[n]))
			return true;
	return false;
}

static inline char *kh_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	while (kh_run_read(fileno(f), &buf, &len))
		;
	fclose(f);
	return buf ? buf : calloc(1, 1);
}

#endif /* KHRUN_H */
