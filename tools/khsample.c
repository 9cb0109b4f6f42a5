// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * khsample: what a running kvmheat spends, sampled from the outside for
 * tools/bench-scan.sh (which runs it inside the nested-kernel rig).  Every
 * PERIOD_MS until PID exits it reads the process's user and system CPU
 * (/proc/PID/stat: all threads, including the kernel work done in its
 * system calls, e.g. an MGLRU page-table walk) and the run count and run
 * time of every BPF program it holds (/proc/PID/fdinfo of its bpf-prog
 * fds; counted only while kernel.bpf_stats_enabled=1), and prints
 *
 *   S T_MS USER_MS SYS_MS AGING_RUNS AGING_NS ALL_RUNS ALL_NS
 *
 * (T_MS: CLOCK_BOOTTIME, the clock of /proc/uptime, so a shell can mark
 * its own events on the same time line.)  "Aging" is the programs on
 * KVM's aging hooks (kvm_age_gfn, kvm_test_age_gfn, kvm_age_hva,
 * kvm_test_age_hva, the TDP young tracepoint), known by the names kvmheat
 * gives them.  Names come from BPF_OBJ_GET_INFO_BY_FD on an fd taken by
 * id (fdinfo carries no names) and closed again at once.  Objects are
 * looked for at every sample, so khsample may start with PID, before
 * kvmheat has loaded anything.  When PID has gone, the last reading of
 * each object it held at the last sample:
 *
 *   P ID NAME RUN_CNT RUN_TIME_NS AGING(0|1)
 *   M ID NAME MAP_TYPE MAX_ENTRIES MEMLOCK_BYTES
 *   E SAMPLES N
 *
 * Exit status 1 (with one line on stderr) when PID held no BPF program on
 * an aging hook at its last sample, or could not be read at all.
 *
 *   khsample PID [PERIOD_MS]      (default 100)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <sys/syscall.h>

#define MAX_OBJS	512

struct obj {
	bool map;
	uint32_t id;
	char name[BPF_OBJ_NAME_LEN];
	uint64_t a, b;			/* prog: run_cnt, run_time_ns; map: type, max_entries */
	uint64_t memlock;
	bool aging, seen;
	bool live;			/* held at the last sample taken */
	unsigned int samples;		/* how many samples found it held */
};

/*
 * A map held this many samples (1 s at the default period) is one of the
 * command's own, kept to the end even once closed: top closes a VM's idle
 * states array while it exits, before the last sample.  Probing's maps
 * live for a sample or two and go.
 */
#define KEEP_MAP_SAMPLES 10

static struct obj objs[MAX_OBJS];
static size_t nobjs;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);	/* the clock of /proc/uptime */
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* kvmheat's programs on aging hooks, by their (15-character) object names. */
static bool aging_name(const char *n)
{
	static const char *const pre[] = {
		"fexit_kvm_age", "fexit_kvm_test", "kprobe_kvm_age", "kprobe_kvm_test",
		"kretprobe_kvm_a", "kretprobe_kvm_t", "tp_btf_kvm_age", "tp_btf_kvm_test",
		"raw_tp_kvm_age", "raw_tp_kvm_test", "tp_btf_kvm_tdp", "raw_tp_kvm_tdp",
	};

	for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
		if (!strncmp(n, pre[i], strlen(pre[i])))
			return true;
	return false;
}

/* The object's name, through an fd taken by id and closed again. */
static void obj_name(struct obj *o)
{
	union bpf_attr attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	if (o->map)
		attr.map_id = o->id;
	else
		attr.prog_id = o->id;
	fd = (int)syscall(__NR_bpf, o->map ? BPF_MAP_GET_FD_BY_ID : BPF_PROG_GET_FD_BY_ID,
			  &attr, sizeof(attr));
	snprintf(o->name, sizeof(o->name), "?");
	if (fd < 0)
		return;
	memset(&attr, 0, sizeof(attr));
	attr.info.bpf_fd = (uint32_t)fd;
	{
		union { struct bpf_map_info m; struct bpf_prog_info p; } info;
		const char *name = o->map ? info.m.name : info.p.name;

		memset(&info, 0, sizeof(info));
		attr.info.info_len = o->map ? sizeof(info.m) : sizeof(info.p);
		attr.info.info = (uint64_t)(uintptr_t)&info;
		if (!syscall(__NR_bpf, BPF_OBJ_GET_INFO_BY_FD, &attr, sizeof(attr)) && name[0])
			snprintf(o->name, sizeof(o->name), "%s", name);
	}
	close(fd);
	o->aging = !o->map && aging_name(o->name);
}

static struct obj *obj_get(bool map, uint32_t id)
{
	for (size_t i = 0; i < nobjs; i++)
		if (objs[i].map == map && objs[i].id == id)
			return &objs[i];
	if (nobjs == MAX_OBJS)
		return NULL;
	memset(&objs[nobjs], 0, sizeof(objs[nobjs]));
	objs[nobjs].map = map;
	objs[nobjs].id = id;
	obj_name(&objs[nobjs]);
	return &objs[nobjs++];
}

/* One fd's fdinfo into its object; false if it is not a BPF prog or map. */
static bool read_fdinfo(int pid, const char *fd, bool map)
{
	char path[96], line[256];
	unsigned long long v;
	uint64_t id = 0, a = 0, b = 0, memlock = 0;
	bool have_id = false;
	struct obj *o;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", pid, fd);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, map ? "map_id: %llu" : "prog_id: %llu", &v) == 1)
			id = v, have_id = true;
		else if (sscanf(line, map ? "map_type: %llu" : "run_cnt: %llu", &v) == 1)
			a = v;
		else if (sscanf(line, map ? "max_entries: %llu" : "run_time_ns: %llu", &v) == 1)
			b = v;
		else if (sscanf(line, "memlock: %llu", &v) == 1)
			memlock = v;
	}
	fclose(f);
	if (!have_id || !(o = obj_get(map, (uint32_t)id)))
		return false;
	o->a = a;
	o->b = b;
	o->memlock = memlock;
	o->seen = true;
	o->samples++;
	return true;
}

/* User and system ms of @pid; false once it is gone (or a zombie). */
static bool read_cpu(int pid, double *user, double *sys)
{
	char path[64], buf[1024], *p, st;
	unsigned long long ut, stm;
	long tck = sysconf(_SC_CLK_TCK);
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	/* after the comm: state (field 3) ... utime (14), stime (15) */
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &st,
			 &ut, &stm) != 3 || st == 'Z' || tck <= 0)
		return false;
	*user = ut * 1e3 / tck;
	*sys = stm * 1e3 / tck;
	return true;
}

/* One sample: false once @pid has gone. */
static bool sample(int pid)
{
	uint64_t ar = 0, an = 0, r = 0, ns = 0;
	char path[64], link[64], lpath[336];
	double user, sys, t = now_ms();
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return false;
	for (size_t i = 0; i < nobjs; i++)
		objs[i].seen = false;
	while ((de = readdir(d))) {
		ssize_t k;

		if (de->d_name[0] == '.')
			continue;
		snprintf(lpath, sizeof(lpath), "%s/%s", path, de->d_name);
		k = readlink(lpath, link, sizeof(link) - 1);
		if (k <= 0)
			continue;
		link[k] = 0;
		if (!strcmp(link, "anon_inode:bpf-prog"))
			read_fdinfo(pid, de->d_name, false);
		else if (!strcmp(link, "anon_inode:bpf-map"))
			read_fdinfo(pid, de->d_name, true);
	}
	closedir(d);
	/* CPU last: a process that went away meanwhile gives no sample at all */
	if (!read_cpu(pid, &user, &sys))
		return false;
	/* objects PID no longer holds go (kvmheat's probing loads and closes many) */
	size_t k = 0;

	for (size_t i = 0; i < nobjs; i++)
		if (objs[i].seen || (objs[i].map && objs[i].samples >= KEEP_MAP_SAMPLES))
			objs[k++] = objs[i];
	nobjs = k;
	for (size_t i = 0; i < nobjs; i++) {
		objs[i].live = true;
		if (objs[i].map)
			continue;
		r += objs[i].a;
		ns += objs[i].b;
		if (objs[i].aging) {
			ar += objs[i].a;
			an += objs[i].b;
		}
	}
	printf("S %.1f %.0f %.0f %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", t, user, sys,
	       ar, an, r, ns);
	fflush(stdout);
	return true;
}

int main(int argc, char **argv)
{
	int pid = argc > 1 ? atoi(argv[1]) : 0, period = argc > 2 ? atoi(argv[2]) : 100;
	struct timespec ts;
	size_t samples = 0;
	bool aging = false;

	if (argc < 2 || argc > 3 || pid <= 0 || period <= 0) {
		fprintf(stderr, "usage: khsample PID [PERIOD_MS]\n");
		return 2;
	}
	ts.tv_sec = period / 1000;
	ts.tv_nsec = (long)(period % 1000) * 1000000L;
	while (sample(pid)) {
		samples++;
		nanosleep(&ts, NULL);
	}
	for (size_t i = 0; i < nobjs; i++) {
		const struct obj *o = &objs[i];

		if (!o->live)
			continue;	/* first seen in the sample that found PID gone */
		aging |= o->aging;
		if (o->map)
			printf("M %u %s %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", o->id, o->name, o->a,
			       o->b, o->memlock);
		else
			printf("P %u %s %" PRIu64 " %" PRIu64 " %d\n", o->id, o->name, o->a, o->b,
			       o->aging);
	}
	printf("E SAMPLES %zu\n", samples);
	if (!samples) {
		fprintf(stderr, "khsample: pid %d could not be read\n", pid);
		return 1;
	}
	if (!aging) {
		fprintf(stderr, "khsample: pid %d held no BPF program on an aging hook at its "
			"last sample\n", pid);
		return 1;
	}
	return 0;
}
