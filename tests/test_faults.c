// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A hostile day: record killed at random points, a full disk, an overloaded
 * ring buffer, VMs coming and going mid-record, and a guest whose memory
 * holds a canary that no output may ever contain.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <jansson.h>
#include <zlib.h>
#include "khtest.h"
#include "khlive.h"

/* Run `kvmheat ARGS`, wait, return its exit code; output stays in @p. */
static int kvmheat_run(void **state, struct proc *p, char *const args[], double seconds)
{
	char path[256], *argv[32];
	int n = 0;

	path_of(path, sizeof(path), "kvmheat");
	argv[n++] = path;
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	spawn(p, argv);
	return wait_exit(p->pid, seconds);
}

static json_t *report_json(void **state, const char *file, int *rc)
{
	struct proc p;
	json_error_t je;
	json_t *j;

	*rc = kvmheat_run(state, &p, (char *[]){ "report", "-i", (char *)file, "-j", NULL }, 60);
	if (*rc)
		show("report stderr", p.err);
	j = json_load_file(p.out, 0, &je);
	proc_cleanup(&p);
	return j;
}

static void guest_args(char **v, const char *extra[])
{
	static char guest[256];
	int n = 0;

	path_of(guest, sizeof(guest), "khguest");
	v[n++] = guest;
	for (int i = 0; extra[i]; i++)
		v[n++] = (char *)extra[i];
	v[n] = NULL;
}

/* `kvmheat record OPTS... -- GUEST ARGS...`, tracked for teardown. */
static void spawn_record(void **state, struct proc *k, const char *const opts[], char **gv)
{
	char kh[256], *argv[40];
	int n = 0;

	path_of(kh, sizeof(kh), "kvmheat");
	argv[n++] = kh;
	argv[n++] = "record";
	for (int i = 0; opts[i] && n < 20; i++)
		argv[n++] = (char *)opts[i];
	argv[n++] = "--";
	for (int i = 0; gv[i] && n < 39; i++)
		argv[n++] = gv[i];
	argv[n] = NULL;
	spawn(k, argv);
	live_track(state, k->pid);
}

/* SIGKILL the recorder at 20 random points: every file reads back. */
static void test_sigkill_at_random_points(void **state)
{
	char dir[] = "/tmp/kh-faults-XXXXXX", data[300], *gv[16];
	unsigned int seed = (unsigned int)time(NULL);
	int cut = 0, clean_end = 0;
	struct proc g;

	need_kvm();
	assert_non_null(mkdtemp(dir));
	snprintf(data, sizeof(data), "%s/k.data", dir);
	printf("# seed %u\n", seed);
	srand(seed);
	/* one long-running guest, recorded by 20 successive recorders */
	guest_args(gv, (const char *[]){ "--hot", "512", "--cold", "512", "--rounds", "400000",
					 "--mem", "16", NULL });
	spawn(&g, gv);
	live_track(state, g.pid);
	assert_true(wait_for(g.err, "ready", 10));
	for (int t = 0; t < 20; t++) {
		char pid[16];
		struct proc k, r;
		int delay_ms = 150 + rand() % 1500, rc;
		char *err;

		snprintf(pid, sizeof(pid), "%d", g.pid);
		unlink(data);
		{
			char kh[256];

			path_of(kh, sizeof(kh), "kvmheat");
			spawn(&k, (char *[]){ kh, "record", "--events", "-F", "100", "-p", pid,
					      "-o", data, NULL });
			live_track(state, k.pid);
		}
		usleep(delay_ms * 1000);
		kill(k.pid, SIGKILL);
		assert_int_equal(wait_exit(k.pid, 10), 128 + SIGKILL);
		proc_cleanup(&k);
		if (access(data, F_OK)) {
			/* killed before the first chunk: no file is a valid outcome */
			printf("# trial %d: killed at %d ms before the first chunk\n", t, delay_ms);
			continue;
		}
		rc = kvmheat_run(state, &r, (char *[]){ "report", "-i", data, "--format", "csv",
							 NULL }, 60);
		err = slurp(r.err);
		printf("# trial %d: killed at %d ms: report exit %d: %s", t, delay_ms, rc,
		       strchr(err, '\n') ? err : "\n");
		assert_int_equal(rc, 0);
		/*
		 * Never finished: the reader must say so and where the readable part
		 * ends ("cut at byte N" when a chunk was torn, "up to byte N" when the
		 * kill fell between chunks, which one writev() per chunk makes likely).
		 */
		assert_non_null(strstr(err, "did not finish cleanly"));
		assert_true(strstr(err, "cut at byte") || strstr(err, "up to byte"));
		cut += strstr(err, "cut at byte") != NULL;
		clean_end += strstr(err, "cut at byte") == NULL;
		free(err);
		proc_cleanup(&r);
	}
	printf("# %d files ended inside a chunk, %d between chunks\n", cut, clean_end);
	kill(g.pid, SIGKILL);
	wait_exit(g.pid, 10);
	proc_cleanup(&g);
	unlink(data);
	rmdir(dir);
}

/* A full disk: a clear error, a clean stop, the file readable to its last chunk. */
static void test_disk_full(void **state)
{
	char dir[] = "/tmp/kh-full-XXXXXX", data[300], *gv[20];
	struct proc k;
	json_t *rep;
	char *err;
	int rc;

	need_kvm();
	assert_non_null(mkdtemp(dir));
	if (mount("kh-full", dir, "tmpfs", 0, "size=96k,mode=0700")) {
		rmdir(dir);
		KH_SKIP("cannot mount a small tmpfs: %s", strerror(errno));
	}
	snprintf(data, sizeof(data), "%s/k.data", dir);
	guest_args(gv, (const char *[]){ "--hot", "1024", "--cold", "1024", "--rounds", "40",
					 "--write-frac", "0.5", NULL });
	spawn_record(state, &k, (const char *[]){ "--events", "-F", "100", "-o", data, NULL }, gv);
	rc = wait_exit(k.pid, 120);
	err = slurp(k.err);
	printf("# record exit %d: %s", rc, err);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(err, "No space left on device"));
	rep = report_json(state, data, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(rep);
	assert_false(json_is_true(json_object_get(rep, "complete")));
	assert_true(jint(rep, "epochs") + jint(rep, "events") > 0);
	printf("# the full disk kept %lld epochs and %lld events\n",
	       (long long)jint(rep, "epochs"), (long long)jint(rep, "events"));
	json_decref(rep);
	free(err);
	proc_cleanup(&k);
	umount(dir);
	rmdir(dir);
}

/* A 4 KiB ring buffer cannot keep up: losses are counted and shown. */
static void test_ring_buffer_overload_is_reported(void **state)
{
	char data[] = "/tmp/kh-ovl-XXXXXX", *gv[16], kh[256];
	const char *g[] = { "--hot", "400", "--cold", "400", "--rounds", "30", NULL };
	struct proc k, t;
	json_t *rep, *lost;
	char *err;
	int rc, fd;

	need_kvm();
	fd = mkstemp(data);
	close(fd);
	unlink(data);
	guest_args(gv, g);
	path_of(kh, sizeof(kh), "kvmheat");
	spawn_record(state, &k, (const char *[]){ "--events", "--ringbuf", "4096", "-o", data,
						  NULL }, gv);
	assert_int_equal(wait_exit(k.pid, 120), 0);
	err = slurp(k.err);
	assert_non_null(strstr(err, "lost events"));
	free(err);
	proc_cleanup(&k);
	rep = report_json(state, data, &rc);
	assert_int_equal(rc, 0);
	lost = json_object_get(rep, "lost");
	assert_true(json_array_size(lost) > 0);
	/*
	 * The walk source floods the 4 KiB buffer; aging of the guest's pages by
	 * host reclaim may lose a few events first, so look for walk anywhere.
	 */
	{
		json_t *walk = NULL, *e;
		size_t i;

		json_array_foreach(lost, i, e)
			if (!strcmp(json_string_value(json_object_get(e, "source")) ?: "", "walk"))
				walk = e;	/* the last: its total is the whole loss */
		assert_non_null(walk);
		assert_true(jint(walk, "total") > 0);
		printf("# record: %lld walk events lost, all counted\n",
		       (long long)jint(walk, "total"));
	}
	json_decref(rep);
	unlink(data);

	/* trace with the same tiny buffer says it lost events */
	{
		char *argv[24], pid[16];
		struct proc gg;
		int n = 0;

		guest_args(gv, (const char *[]){ "--wait-signal", "--hot", "400", "--cold", "400",
						 "--rounds", "30", NULL });
		spawn(&gg, gv);
		live_track(state, gg.pid);
		assert_true(wait_for(gg.err, "ready", 10));
		snprintf(pid, sizeof(pid), "%d", gg.pid);
		argv[n++] = kh;
		argv[n++] = "trace";
		argv[n++] = "-p";
		argv[n++] = pid;
		argv[n++] = "--ringbuf";
		argv[n++] = "4096";
		argv[n++] = "-d";
		argv[n++] = "30";
		argv[n] = NULL;
		spawn(&t, argv);
		live_track(state, t.pid);
		assert_true(wait_for(t.err, "tracing", 30));
		kill(gg.pid, SIGUSR1);
		assert_int_equal(wait_exit(gg.pid, 60), 0);
		kill(t.pid, SIGINT);
		wait_exit(t.pid, 30);
		err = slurp(t.err);
		printf("# trace: %s", strstr(err, "lost") ? strstr(err, "lost") : "(no loss line)\n");
		assert_non_null(strstr(err, "lost"));
		free(err);
		proc_cleanup(&gg);
		proc_cleanup(&t);
	}
}

/* One VM that exits mid-record and one that starts mid-record: both with times. */
static void test_vms_come_and_go_mid_record(void **state)
{
	char data[] = "/tmp/kh-cg-XXXXXX", *gv[16], kh[256];
	struct proc a, b, k;
	json_t *rep, *vms, *va = NULL, *vb = NULL;
	int rc, fd;

	need_kvm();
	fd = mkstemp(data);
	close(fd);
	unlink(data);
	path_of(kh, sizeof(kh), "kvmheat");
	guest_args(gv, (const char *[]){ "--wait-signal", "--hot", "50", "--cold", "50", NULL });
	spawn(&a, gv);
	live_track(state, a.pid);
	assert_true(wait_for(a.err, "ready", 10));
	spawn(&k, (char *[]){ kh, "record", "-d", "5", "-F", "200", "-o", data, NULL });
	live_track(state, k.pid);
	assert_true(wait_for(k.err, "recording", 30));
	usleep(1200 * 1000);
	kill(a.pid, SIGUSR1);		/* A runs its pattern and exits */
	assert_int_equal(wait_exit(a.pid, 30), 0);
	guest_args(gv, (const char *[]){ "--hot", "50", "--cold", "50", "--pause-ms", "1200",
					 NULL });
	spawn(&b, gv);			/* B starts after A has gone */
	assert_int_equal(wait_exit(b.pid, 30), 0);
	live_track(state, b.pid);
	assert_int_equal(wait_exit(k.pid, 30), 0);
	rep = report_json(state, data, &rc);
	assert_int_equal(rc, 0);
	vms = json_object_get(rep, "vms");
	for (size_t i = 0; i < json_array_size(vms); i++) {
		json_t *v = json_array_get(vms, i);

		if (jint(v, "pid") == a.pid)
			va = v;
		if (jint(v, "pid") == b.pid)
			vb = v;
	}
	assert_non_null(va);
	assert_non_null(vb);
	printf("# A appeared %.2f s exited %.2f s; B appeared %.2f s exited %.2f s\n",
	       json_real_value(json_object_get(va, "appeared_s")),
	       json_real_value(json_object_get(va, "exited_s")),
	       json_real_value(json_object_get(vb, "appeared_s")),
	       json_real_value(json_object_get(vb, "exited_s")));
	assert_true(json_is_real(json_object_get(va, "exited_s")));
	assert_true(json_is_real(json_object_get(vb, "appeared_s")));
	assert_true(json_is_real(json_object_get(vb, "exited_s")));
	/* both can be noticed by the same rediscovery (once a second) */
	assert_true(json_real_value(json_object_get(vb, "appeared_s")) >=
		    json_real_value(json_object_get(va, "exited_s")));
	assert_int_equal(jint(va, "vcpus"), 1);
	json_decref(rep);
	unlink(data);
	proc_cleanup(&a);
	proc_cleanup(&b);
	proc_cleanup(&k);
}

/* ---- the canary ---- */

#define CANARY "kvmheat-canary-7f3a9e"

static bool file_has(const char *path, const char *needle)
{
	char *s = slurp(path);
	bool hit = memmem(s, strlen(s), needle, strlen(needle)) != NULL;

	free(s);
	return hit;
}

/*
 * Inflate every chunk of a recording with our own decoder (not kvmheat's
 * reader) and look for @needle in the records.  Returns chunks decoded.
 */
static int recording_has(const char *path, const char *needle, bool *hit)
{
	FILE *f = fopen(path, "rb");
	uint8_t fh[24], ch[24];
	uint32_t hdr_size;
	int chunks = 0;

	*hit = false;
	assert_non_null(f);
	assert_int_equal(fread(fh, 1, sizeof(fh), f), sizeof(fh));
	assert_memory_equal(fh, "KVMHEAT\x1a", 8);
	memcpy(&hdr_size, fh + 12, 4);
	fseek(f, hdr_size, SEEK_SET);
	while (fread(ch, 1, sizeof(ch), f) == sizeof(ch)) {
		uint32_t raw_len, comp_len;
		uLongf out;
		uint8_t *comp, *raw;

		assert_memory_equal(ch, "KHCK", 4);
		memcpy(&raw_len, ch + 8, 4);
		memcpy(&comp_len, ch + 12, 4);
		comp = malloc(comp_len);
		raw = malloc(raw_len ? raw_len : 1);
		assert_true(comp && raw);
		assert_int_equal(fread(comp, 1, comp_len, f), comp_len);
		out = raw_len;
		assert_int_equal(uncompress(raw, &out, comp, comp_len), Z_OK);
		*hit |= memmem(raw, out, needle, strlen(needle)) != NULL;
		/* a fragment would do too: any 8 bytes of the canary */
		*hit |= memmem(raw, out, needle + 4, 8) != NULL;
		free(comp);
		free(raw);
		chunks++;
	}
	fclose(f);
	return chunks;
}

static void test_guest_memory_never_in_outputs(void **state)
{
	char data[] = "/tmp/kh-can-XXXXXX", *gv[20], kh[256], pid[16];
	char canf[] = "/tmp/kh-canary-XXXXXX";
	const char *outs[8];
	struct proc g, k, r1, r2, r3, t;
	int fd, chunks, nouts = 0;
	bool hit;

	need_kvm();
	fd = mkstemp(data);
	close(fd);
	unlink(data);
	/* from a file: record stores its command line, which must not hold it */
	fd = mkstemp(canf);
	assert_int_equal(write(fd, CANARY, strlen(CANARY)), (ssize_t)strlen(CANARY));
	close(fd);
	path_of(kh, sizeof(kh), "kvmheat");
	/* record --events of a guest whose whole data slot holds the canary */
	guest_args(gv, (const char *[]){ "--fill-from", canf, "--hot", "100", "--cold", "200",
					 "--rounds", "6", "--write-frac", "0.5", NULL });
	spawn_record(state, &k, (const char *[]){ "--events", "-o", data, NULL }, gv);
	assert_int_equal(wait_exit(k.pid, 120), 0);
	chunks = recording_has(data, CANARY, &hit);
	printf("# recording: %d chunks inflated\n", chunks);
	assert_true(chunks > 0);
	assert_false(hit);
	assert_int_equal(kvmheat_run(state, &r1, (char *[]){ "report", "-i", data, "-j", NULL },
				     60), 0);
	assert_int_equal(kvmheat_run(state, &r2, (char *[]){ "report", "-i", data, "--subpages",
						      "--events", NULL }, 60), 0);
	assert_int_equal(kvmheat_run(state, &r3, (char *[]){ "report", "-i", data, "--format", "csv",
						      NULL }, 60), 0);
	outs[nouts++] = r1.out;
	outs[nouts++] = r2.out;
	outs[nouts++] = r3.out;

	/* heat and trace, live */
	guest_args(gv, (const char *[]){ "--wait-signal", "--fill-from", canf, "--hot", "100",
					 "--cold", "200", "--rounds", "6", "--write-frac", "0.5",
					 NULL });
	spawn(&g, gv);
	live_track(state, g.pid);
	assert_true(wait_for(g.err, "ready", 10));
	snprintf(pid, sizeof(pid), "%d", g.pid);
	spawn(&t, (char *[]){ kh, "trace", "-j", "-p", pid, "-d", "60", NULL });
	live_track(state, t.pid);
	spawn(&k, (char *[]){ kh, "heat", "-j", "-p", pid, "-d", "60", NULL });
	live_track(state, k.pid);
	assert_true(wait_for(k.err, "tracing", 30));
	sleep(1);
	kill(g.pid, SIGUSR1);
	assert_int_equal(wait_exit(g.pid, 60), 0);
	assert_int_equal(wait_exit(k.pid, 30), 0);
	kill(t.pid, SIGINT);
	wait_exit(t.pid, 30);
	outs[nouts++] = k.out;
	outs[nouts++] = k.err;
	outs[nouts++] = t.out;
	for (int i = 0; i < nouts; i++) {
		struct stat st;

		assert_int_equal(stat(outs[i], &st), 0);
		printf("# %s: %lld bytes, canary %s\n", outs[i], (long long)st.st_size,
		       file_has(outs[i], CANARY) ? "FOUND" : "absent");
		assert_false(file_has(outs[i], CANARY));
	}
	/* the tests above would be empty if nothing was traced */
	assert_true(file_has(t.out, "\"gpa\""));
	proc_cleanup(&r1);
	proc_cleanup(&r2);
	proc_cleanup(&r3);
	proc_cleanup(&k);
	proc_cleanup(&t);
	proc_cleanup(&g);
	unlink(data);
	unlink(canf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		LIVE_TEST(test_vms_come_and_go_mid_record),
		LIVE_TEST(test_ring_buffer_overload_is_reported),
		LIVE_TEST(test_disk_full),
		LIVE_TEST(test_guest_memory_never_in_outputs),
		LIVE_TEST(test_sigkill_at_random_points),
	};

	return cmocka_run_group_tests_name("faults and safety", tests, NULL, NULL);
}
