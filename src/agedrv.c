// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Aging drivers: make the kernel run KVM's aging (kvm_age_gfn, through the
 * MMU notifier's clear_young) over one VM's memory without reclaiming or
 * zapping anything, so the aging hooks (bpf/aging.bpf.h) get a young/old
 * result per gfn on a host with no memory pressure.  Call paths, checked in
 * kernel source per release: docs/KERNELS.md §11.
 *
 * Never used: /proc/PID/clear_refs 4 (zaps every SPTE), MADV_PAGEOUT,
 * memory.reclaim or lowered limits (reclaim), lru_gen "-" (eviction).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <jansson.h>
#include <zlib.h>
#include "vms.h"
#include "agedrv.h"

static const char *const kh_agedrv_names[KH_AD_MAX] = {
	[KH_AD_PAGE_IDLE] = "page_idle", [KH_AD_MGLRU] = "mglru", [KH_AD_DAMON] = "damon",
};

const char *kh_agedrv_name(int id)
{
	return id >= 0 && id < KH_AD_MAX ? kh_agedrv_names[id] : "passive";
}

int kh_agedrv_parse(const char *s, int *id)
{
	for (int i = 0; i < KH_AD_MAX; i++)
		if (!strcmp(s, kh_agedrv_names[i])) {
			*id = i;
			return 0;
		}
	return -EINVAL;
}

static void kh_paths_fill(struct kh_agedrv_paths *d, const struct kh_agedrv_paths *p)
{
	static const struct kh_agedrv_paths def = {
		.proc = "/proc", .page_idle = "/sys/kernel/mm/page_idle/bitmap",
		.lru_gen = "/sys/kernel/debug/lru_gen",
		.lru_gen_enabled = "/sys/kernel/mm/lru_gen/enabled",
		.damon = "/sys/kernel/mm/damon/admin", .cgroup = "/sys/fs/cgroup",
		.run = "/run/kvmheat",
	};

	*d = def;
	if (!p)
		return;
#define KH_PATH(f) if (p->f) d->f = p->f
	KH_PATH(proc); KH_PATH(page_idle); KH_PATH(lru_gen); KH_PATH(lru_gen_enabled);
	KH_PATH(damon); KH_PATH(cgroup); KH_PATH(run); KH_PATH(kconfig); KH_PATH(release);
#undef KH_PATH
}

/* ---- small file helpers ---- */

/* Read a whole (small, sysfs or debugfs) file; NUL-terminated, caller frees. */
static char *kh_slurp(const char *path, int *err)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0 || !buf) {
		*err = fd < 0 ? -errno : -ENOMEM;
		if (fd >= 0)
			close(fd);
		free(buf);
		return NULL;
	}
	while ((r = read(fd, buf + len, cap - len - 1)) > 0) {
		len += r;
		if (cap - len < 2) {
			char *nb = realloc(buf, cap * 2);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	*err = r < 0 ? -errno : 0;
	close(fd);
	buf[len] = 0;
	return buf;
}

static int kh_read_line(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return -errno;
	r = read(fd, buf, len - 1);
	close(fd);
	if (r < 0)
		return -errno;
	buf[r] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* One write() of the whole value: a sysfs store sees it at once or not at all. */
static int kh_write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t w;

	if (fd < 0)
		return -errno;
	w = write(fd, val, strlen(val));
	close(fd);
	return w < 0 ? -errno : 0;
}

static int kh_dpath(char *buf, size_t len, const char *dir, const char *rel)
{
	return snprintf(buf, len, "%s/%s", dir, rel) >= (int)len ? -ENAMETOOLONG : 0;
}

/* "6.12.95+deb12-amd64" >= 6.12? */
static bool kh_release_at_least(const char *rel, int maj, int min)
{
	int a = 0, b = 0;

	if (sscanf(rel, "%d.%d", &a, &b) != 2)
		return false;
	return a > maj || (a == maj && b >= min);
}

/* CONFIG_@name: 1 (=y/=m), 0 (not set), -ENOENT (no readable config). */
static int kh_kconfig(const struct kh_agedrv_paths *p, const char *name)
{
	char path[256], line[256];
	size_t nl = strlen(name);
	gzFile f = NULL;
	int found = 0;

	if (p->kconfig) {
		f = gzopen(p->kconfig, "rb");
	} else {
		f = gzopen("/proc/config.gz", "rb");
		if (!f) {
			snprintf(path, sizeof(path), "/boot/config-%s", p->release);
			f = gzopen(path, "rb");
		}
	}
	if (!f)
		return -ENOENT;
	while (gzgets(f, line, sizeof(line))) {
		if (!strncmp(line, name, nl) && line[nl] == '=' &&
		    (line[nl + 1] == 'y' || line[nl + 1] == 'm')) {
			found = 1;
			break;
		}
	}
	gzclose(f);
	return found;
}

/* ---- page_idle ---- */

#define KH_PM_PRESENT	(1ULL << 63)
#define KH_PM_PFN_MASK	((1ULL << 55) - 1)

int kh_pagemap_pfns(int fd, uint64_t hva, uint64_t npages, uint64_t **pfns, size_t *n,
		    size_t *capp)
{
	enum { CHUNK = 4096 };	/* entries per pread: 32 KiB */
	uint64_t *buf = malloc(CHUNK * sizeof(*buf)), *out = *pfns;
	size_t cap = *capp, cnt = 0;

	if (!buf)
		return -ENOMEM;
	for (uint64_t done = 0; done < npages;) {
		uint64_t want = npages - done < CHUNK ? npages - done : CHUNK;
		ssize_t r = pread(fd, buf, want * 8, (off_t)(((hva >> 12) + done) * 8));

		if (r <= 0) {
			free(buf);
			*pfns = out;
			*capp = cap;
			return r < 0 ? -errno : -EIO;
		}
		for (size_t i = 0; i < (size_t)r / 8; i++) {
			uint64_t pfn = buf[i] & KH_PM_PFN_MASK;

			if (!(buf[i] & KH_PM_PRESENT) || !pfn)
				continue;	/* swapped, unmapped, or PFNs hidden from us */
			if (cnt == cap) {
				uint64_t *nb = realloc(out, (cap ? cap * 2 : 1024) * sizeof(*nb));

				if (!nb) {
					free(buf);
					*pfns = out;
					*capp = cap;
					return -ENOMEM;
				}
				out = nb;
				cap = cap ? cap * 2 : 1024;
			}
			out[cnt++] = pfn;
		}
		done += (uint64_t)r / 8;
	}
	free(buf);
	*pfns = out;
	*capp = cap;
	*n = cnt;
	return 0;
}

static int kh_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

size_t kh_pfn_words(uint64_t *pfns, size_t n, struct kh_idle_word *out)
{
	size_t nw = 0;

	qsort(pfns, n, sizeof(*pfns), kh_u64_cmp);
	for (size_t i = 0; i < n; i++) {
		uint64_t idx = pfns[i] / 64;

		if (!nw || out[nw - 1].idx != idx)
			out[nw++] = (struct kh_idle_word){ .idx = idx };
		out[nw - 1].bits |= 1ULL << (pfns[i] % 64);
	}
	return nw;
}

/*
 * The bitmap takes whole 8-byte words at offset pfn/64*8; a set bit marks
 * that page idle, running page_idle_clear_pte_refs() (rmap walk, then
 * mmu_notifier_clear_young -> kvm_age_gfn); clear bits are ignored.  Runs
 * of consecutive words go in one pwrite.
 */
int kh_idle_bitmap_write(int fd, const struct kh_idle_word *w, size_t n, size_t batch,
			 size_t *writes)
{
	uint64_t *buf = malloc((batch ? batch : 1) * sizeof(*buf));
	size_t i = 0;

	*writes = 0;
	if (!buf)
		return -ENOMEM;
	while (i < n) {
		size_t k = 0;

		while (i + k < n && k < batch && w[i + k].idx == w[i].idx + k) {
			buf[k] = w[i + k].bits;
			k++;
		}
		if (!k)
			k = 1, buf[0] = w[i].bits;
		if (pwrite(fd, buf, k * 8, (off_t)(w[i].idx * 8)) != (ssize_t)(k * 8)) {
			int err = -errno;

			free(buf);
			return err ? err : -EIO;
		}
		(*writes)++;
		i += k;
	}
	free(buf);
	return 0;
}

/* page_idle needs the bitmap and real PFNs in pagemap (CAP_SYS_ADMIN). */
static void kh_probe_page_idle(const struct kh_agedrv_paths *p, struct kh_agedrv_result *r)
{
	char path[256];
	volatile char probe_page[1] = { 1 };
	uint64_t ent = 0;
	int fd = open(p->page_idle, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		snprintf(r->why, sizeof(r->why), errno == ENOENT ?
			 "no %s: the kernel lacks CONFIG_IDLE_PAGE_TRACKING (off in Debian's "
			 "kernels, on in Ubuntu, Fedora, RHEL)" : "cannot open %s read-write: %s",
			 p->page_idle, strerror(errno));
		return;
	}
	close(fd);
	snprintf(path, sizeof(path), "%s/self/pagemap", p->proc);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		(void)probe_page[0];
		if (pread(fd, &ent, 8, (off_t)(((uintptr_t)probe_page >> 12) * 8)) != 8)
			ent = 0;
		close(fd);
	}
	if (!(ent & KH_PM_PFN_MASK)) {
		snprintf(r->why, sizeof(r->why), "%s shows no PFNs to us (needs CAP_SYS_ADMIN)",
			 path);
		return;
	}
	r->ok = true;
	snprintf(r->why, sizeof(r->why), "sets idle bits of the VM's PFNs (from pagemap) in %s: "
		 "kvm_age_gfn per 4 KiB page", p->page_idle);
}

/* ---- MGLRU: /sys/kernel/debug/lru_gen ---- */

/*
 * lru_gen_seq_show() prints, per memcg, "memcg ID PATH", then per node
 * " node N" followed by one line per generation, "SEQ AGE_MS ANON FILE",
 * oldest first: max_seq is the node's last SEQ line.
 */
int kh_lrugen_parse(const char *text, const char *path, struct kh_lrugen_memcg *out)
{
	const char *l = text;
	bool in = false, found = false;

	memset(out, 0, sizeof(*out));
	while (l && *l) {
		const char *e = strchr(l, '\n');
		char line[512], name[400];
		size_t len = e ? (size_t)(e - l) : strlen(l);
		unsigned long long id, seq;
		int node;

		snprintf(line, sizeof(line), "%.*s", (int)(len < 511 ? len : 511), l);
		l = e ? e + 1 : NULL;
		if (sscanf(line, " memcg %llu %399s", &id, name) >= 1) {
			if (sscanf(line, " memcg %llu %399s", &id, name) < 2)
				snprintf(name, sizeof(name), "/");
			if (found)
				break;
			in = !strcmp(name, path);
			if (in) {
				found = true;
				out->id = id;
			}
		} else if (sscanf(line, " node %d", &node) == 1) {
			if (!in)
				continue;
			if (out->nr_nodes == KH_LRU_MAX_NODES)
				return -E2BIG;
			out->node[out->nr_nodes++] = node;
		} else if (sscanf(line, " %llu", &seq) == 1) {
			if (!in)
				continue;
			if (!out->nr_nodes)
				return -EINVAL;	/* a generation before any node line */
			out->max_seq[out->nr_nodes - 1] = seq;
		}
	}
	return found ? 0 : -ENOENT;
}

static int kh_lrugen_file_read(void *ctx, char **text)
{
	int err;

	*text = kh_slurp(ctx, &err);
	return *text ? 0 : err;
}

static int kh_lrugen_file_write(void *ctx, const char *cmd)
{
	return kh_write_str(ctx, cmd);
}

static int kh_lrugen_read(const struct kh_lrugen_io *io, const char *path, int node,
			  uint64_t *id, uint64_t *max_seq)
{
	struct kh_lrugen_memcg m;
	char *text;
	int err = io->read(io->ctx, &text);

	if (err)
		return err;
	err = kh_lrugen_parse(text, path, &m);
	free(text);
	if (err)
		return err;
	for (size_t i = 0; i < m.nr_nodes; i++)
		if (m.node[i] == node) {
			*id = m.id;
			*max_seq = m.max_seq[i];
			return 0;
		}
	return -ENOENT;
}

int kh_lrugen_age_io(const struct kh_lrugen_io *io, const char *path, int node, char *why,
		     size_t whylen)
{
	for (int tries = 0; tries < 4; tries++) {
		uint64_t id, seq, id2, seq2;
		char cmd[96];
		int err = kh_lrugen_read(io, path, node, &id, &seq);

		if (err) {
			snprintf(why, whylen, "reading lru_gen for memcg %s node %d: %s", path, node,
				 strerror(-err));
			return err;
		}
		/* swappiness 1: anon pages are walked too; force_scan 1: walk even with
		 * four generations already (else ERANGE).  The only command we write,
		 * in one write(): the kernel never sees half of it. */
		snprintf(cmd, sizeof(cmd), "+ %" PRIu64 " %d %" PRIu64 " 1 1\n", id, node, seq);
		err = io->write(io->ctx, cmd);
		/* EEXIST (6.14+): someone else raised max_seq first: a stale read */
		if (err && err != -EEXIST) {
			snprintf(why, whylen, "writing '+ %" PRIu64 " %d %" PRIu64 " 1 1' to lru_gen: "
				 "%s", id, node, seq, strerror(-err));
			return err;
		}
		if (kh_lrugen_read(io, path, node, &id2, &seq2) == 0 && id2 == id && seq2 > seq)
			return 0;
	}
	snprintf(why, whylen, "max_seq of memcg %s node %d did not go up after 4 tries", path,
		 node);
	return -EAGAIN;
}

int kh_lrugen_age(const char *lru_gen, const char *path, int node, char *why, size_t whylen)
{
	struct kh_lrugen_io io = { kh_lrugen_file_read, kh_lrugen_file_write, (void *)lru_gen };

	return kh_lrugen_age_io(&io, path, node, why, whylen);
}

/* The VMM's memory cgroup path: v1 "N:memory:/x" if there, else v2 "0::/x". */
static int kh_memcg_of(const struct kh_agedrv_paths *p, uint32_t pid, char *out, size_t len)
{
	char path[128], *text, *l;
	int err;

	snprintf(path, sizeof(path), "%s/%u/cgroup", p->proc, pid);
	text = kh_slurp(path, &err);
	if (!text)
		return err;
	out[0] = 0;
	for (l = strtok(text, "\n"); l; l = strtok(NULL, "\n")) {
		char *c = strchr(l, ':'), *c2 = c ? strchr(c + 1, ':') : NULL;

		if (!c2)
			continue;
		if (!strncmp(c + 1, "memory:", 7) || (!out[0] && c2 == c + 1))
			snprintf(out, len, "%s", c2 + 1);
	}
	free(text);
	return out[0] ? 0 : -ENOENT;
}

/* Other processes in the VMM's cgroup: MGLRU ages them all. */
static void kh_memcg_others(const struct kh_agedrv_paths *p, const char *cg, uint32_t pid,
			    char *note, size_t len)
{
	char path[512], *text, *l;
	size_t others = 0;
	int err;

	/* v2 first; a v1 memory hierarchy is mounted at memory/ below it */
	snprintf(path, sizeof(path), "%s%s/cgroup.procs", p->cgroup, cg);
	text = kh_slurp(path, &err);
	if (!text) {
		snprintf(path, sizeof(path), "%s/memory%s/cgroup.procs", p->cgroup, cg);
		text = kh_slurp(path, &err);
	}
	if (!text) {
		if (!strcmp(cg, "/"))
			snprintf(note, len, "the VMM is in the root memory cgroup: each scan ages "
				 "all of the host's memory");
		return;
	}
	for (l = strtok(text, "\n"); l; l = strtok(NULL, "\n"))
		others += (uint32_t)strtoul(l, NULL, 10) != pid;
	free(text);
	if (others)
		snprintf(note, len, "memory cgroup %.200s holds %zu process(es) besides the VMM: each "
			 "scan ages their memory too", cg, others);
}

static void kh_probe_mglru(const struct kh_agedrv_paths *p, uint32_t pid,
			   struct kh_agedrv_result *r)
{
	char en[32], cg[256];
	unsigned long bits = 0;
	uint64_t id = 0;
	int err;

	if (!kh_release_at_least(p->release, 6, 12)) {
		snprintf(r->why, sizeof(r->why), "kernel %s: before 6.12 MGLRU's page-table walk "
			 "does not call the secondary-MMU notifier (commit 1d4832becdc2), so KVM "
			 "would not be aged", p->release);
		return;
	}
	if (kh_read_line(p->lru_gen_enabled, en, sizeof(en))) {
		snprintf(r->why, sizeof(r->why), "no %s: the kernel lacks CONFIG_LRU_GEN",
			 p->lru_gen_enabled);
		return;
	}
	bits = strtoul(en, NULL, 0);
	if ((bits & 3) != 3) {
		snprintf(r->why, sizeof(r->why), "MGLRU is %s (%s = %s; needs 0x0001 and the mm "
			 "walk 0x0002)", bits & 1 ? "on without its mm walk" : "off",
			 p->lru_gen_enabled, en);
		return;
	}
	if (access(p->lru_gen, R_OK | W_OK)) {
		snprintf(r->why, sizeof(r->why), "cannot use %s: %s%s", p->lru_gen,
			 strerror(errno), errno == ENOENT ? " (is debugfs mounted?)" : "");
		return;
	}
	r->ok = true;
	if (!pid) {
		snprintf(r->why, sizeof(r->why), "writes '+ MEMCG NODE MAX_SEQ 1 1' to %s for "
			 "the VMM's memory cgroup (ages the whole cgroup)", p->lru_gen);
		return;
	}
	err = kh_memcg_of(p, pid, cg, sizeof(cg));
	if (!err) {
		struct kh_lrugen_io io = { kh_lrugen_file_read, kh_lrugen_file_write,
					   (void *)p->lru_gen };
		struct kh_lrugen_memcg m;
		char *text;

		err = io.read(io.ctx, &text);
		if (!err) {
			err = kh_lrugen_parse(text, cg, &m);
			free(text);
		}
		id = m.id;
	}
	if (err) {
		r->ok = false;
		snprintf(r->why, sizeof(r->why), "memory cgroup of pid %u not found in %s: %s",
			 pid, p->lru_gen, strerror(-err));
		return;
	}
	snprintf(r->why, sizeof(r->why), "ages memcg %" PRIu64 " (%s) through %s", id, cg,
		 p->lru_gen);
}

/* ---- DAMON: our own kdamond, never anyone else's ---- */

/*
 * Writing admin/kdamonds/nr_kdamonds removes every kdamond directory and
 * makes new ones (damon_sysfs_kdamonds_add_dirs(); EBUSY while one runs),
 * so a second user of DAMON's sysfs would destroy the first one's setup.
 * We therefore use it only when nr_kdamonds is 0, and record what we start
 * in RUN/damon.owner before touching anything, so a later kvmheat can tell
 * a kdamond that a killed kvmheat left from someone else's.
 */
struct kh_damon_rec {
	uint32_t owner;		/* kvmheat pid */
	uint32_t kdamond;	/* kdamond pid, 0 while starting */
	uint32_t target;	/* VMM pid */
};

static int kh_damon_rec_path(const struct kh_agedrv_paths *p, char *buf, size_t len)
{
	return kh_dpath(buf, len, p->run, "damon.owner");
}

static int kh_damon_rec_read(const struct kh_agedrv_paths *p, struct kh_damon_rec *r)
{
	char path[256], line[128];
	int err = kh_damon_rec_path(p, path, sizeof(path));

	if (!err)
		err = kh_read_line(path, line, sizeof(line));
	if (err)
		return err;
	if (sscanf(line, "owner=%u kdamond=%u target=%u", &r->owner, &r->kdamond,
		   &r->target) != 3)
		return -EINVAL;
	return 0;
}

static int kh_damon_rec_write(const struct kh_agedrv_paths *p, const struct kh_damon_rec *r)
{
	char path[256], tmp[300], line[128];
	int err;

	mkdir(p->run, 0700);
	err = kh_damon_rec_path(p, path, sizeof(path));
	if (err)
		return err;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(line, sizeof(line), "owner=%u kdamond=%u target=%u\n", r->owner, r->kdamond,
		 r->target);
	{
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd < 0)
			return -errno;
		if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
			close(fd);
			return -EIO;
		}
		close(fd);
	}
	return rename(tmp, path) ? -errno : 0;
}

static void kh_damon_rec_remove(const struct kh_agedrv_paths *p)
{
	char path[256];

	if (!kh_damon_rec_path(p, path, sizeof(path)))
		unlink(path);
}

/* Kernel threads named kdamond.N: up to @max pids, returns how many. */
static size_t kh_kdamond_threads(const struct kh_agedrv_paths *p, uint32_t *pids, size_t max)
{
	DIR *d = opendir(p->proc);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max) {
		char path[300], comm[32];

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "%s/%s/comm", p->proc, de->d_name);
		if (!kh_read_line(path, comm, sizeof(comm)) && !strncmp(comm, "kdamond", 7))
			pids[n++] = (uint32_t)strtoul(de->d_name, NULL, 10);
	}
	closedir(d);
	return n;
}

static bool kh_pid_alive(uint32_t pid)
{
	return pid && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static int kh_damon_w(const struct kh_agedrv_paths *p, const char *rel, const char *val)
{
	char path[512];
	int err = kh_dpath(path, sizeof(path), p->damon, rel);

	return err ? err : kh_write_str(path, val);
}

static int kh_damon_r(const struct kh_agedrv_paths *p, const char *rel, char *buf, size_t len)
{
	char path[512];
	int err = kh_dpath(path, sizeof(path), p->damon, rel);

	return err ? err : kh_read_line(path, buf, len);
}

/* Stop kdamond 0 and drop the directory we made; the record goes last. */
static void kh_damon_stop(const struct kh_agedrv_paths *p)
{
	kh_damon_w(p, "kdamonds/0/state", "off");
	kh_damon_w(p, "kdamonds/nr_kdamonds", "0");
	kh_damon_rec_remove(p);
}

/*
 * A record whose owner is dead: its kdamond (or half-made setup) is ours
 * to remove, if sysfs still shows exactly it.  Says what it did in @notes.
 */
static void kh_damon_cleanup(const struct kh_agedrv_paths *p, char *notes, size_t len)
{
	struct kh_damon_rec rec;
	char nr[32] = "", kpid[32] = "", tgt[32] = "", st[32] = "";
	bool running, ours;

	if (kh_damon_rec_read(p, &rec) || kh_pid_alive(rec.owner))
		return;
	kh_damon_r(p, "kdamonds/nr_kdamonds", nr, sizeof(nr));
	kh_damon_r(p, "kdamonds/0/pid", kpid, sizeof(kpid));
	kh_damon_r(p, "kdamonds/0/state", st, sizeof(st));
	kh_damon_r(p, "kdamonds/0/contexts/0/targets/0/pid_target", tgt, sizeof(tgt));
	running = !strcmp(st, "on");
	/* running: the very kdamond we recorded (or, killed while starting, our
	 * target); stopped by itself (its target exited): our target's setup */
	ours = !strcmp(nr, "1") &&
	       (running ? (rec.kdamond ? (uint32_t)atoi(kpid) == rec.kdamond
				       : (uint32_t)atoi(tgt) == rec.target)
			: (uint32_t)atoi(tgt) == rec.target);
	if (!ours) {
		snprintf(notes, len, "a record of kvmheat pid %u's kdamond %u is stale (DAMON "
			 "now shows nr_kdamonds=%s, kdamond pid %s): record dropped, DAMON left "
			 "alone", rec.owner, rec.kdamond, nr, kpid);
		kh_damon_rec_remove(p);
		return;
	}
	kh_damon_stop(p);
	if (running)
		snprintf(notes, len, "removed kdamond pid %u (target pid %u) that kvmheat pid %u "
			 "left running when it was killed", rec.kdamond, rec.target, rec.owner);
	else
		snprintf(notes, len, "removed the stopped DAMON setup (target pid %u) that "
			 "kvmheat pid %u left when it was killed", rec.target, rec.owner);
}

/* Checks, in order, so that DAMON's sysfs is read only once we know it is safe. */
static void kh_probe_damon(const struct kh_agedrv_paths *p, uint32_t pid,
			   struct kh_agedrv_result *r, char *notes, size_t nlen)
{
	struct kh_damon_rec rec = {};
	uint32_t kd[16];
	char nr[32];
	int vaddr = kh_kconfig(p, "CONFIG_DAMON_VADDR");
	int sysfs = kh_kconfig(p, "CONFIG_DAMON_SYSFS");
	size_t n;

	n = kh_kdamond_threads(p, kd, 16);
	if (vaddr == 0 || sysfs == 0) {
		snprintf(r->why, sizeof(r->why), "the kernel lacks CONFIG_DAMON_%s%s (DAMON's "
			 "sysfs was not touched)", vaddr == 0 ? "VADDR" : "SYSFS",
			 n ? "; a kdamond that is not ours runs too" : "");
		return;
	}
	if (vaddr < 0 && access(p->damon, F_OK)) {
		snprintf(r->why, sizeof(r->why), "no kernel config to read and no %s", p->damon);
		return;
	}
	if (kh_damon_rec_read(p, &rec) == 0 && kh_pid_alive(rec.owner) &&
	    rec.owner != (uint32_t)getpid()) {
		snprintf(r->why, sizeof(r->why), "kvmheat pid %u already runs a kdamond", rec.owner);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (rec.kdamond && kd[i] == rec.kdamond && !kh_pid_alive(rec.owner))
			continue;	/* a killed kvmheat's: cleaned up below */
		snprintf(r->why, sizeof(r->why), "kdamond pid %u is running and is not ours (no "
			 "record in %s names it): DAMON is left alone", kd[i], p->run);
		return;
	}
	kh_damon_cleanup(p, notes, nlen);
	if (kh_damon_r(p, "kdamonds/nr_kdamonds", nr, sizeof(nr))) {
		snprintf(r->why, sizeof(r->why), "cannot read %s/kdamonds/nr_kdamonds: %s",
			 p->damon, strerror(errno));
		return;
	}
	if (strcmp(nr, "0")) {
		snprintf(r->why, sizeof(r->why), "DAMON's sysfs already holds %s kdamond(s) set up "
			 "by someone else; adding ours would rewrite theirs (nr_kdamonds)", nr);
		return;
	}
	r->ok = true;
	snprintf(r->why, sizeof(r->why), "own kdamond, vaddr ops on the VMM%s, no schemes: "
		 "SAMPLED, one page per region per sample, not every gfn", pid ? "" : " pid");
}

/* Set up and start kdamond 0 for @pid; the record is written first. */
static int kh_damon_start(struct kh_ager *a, char *why, size_t whylen)
{
	static const char *const steps[][2] = {
		{ "kdamonds/nr_kdamonds", "1" },
		{ "kdamonds/0/contexts/nr_contexts", "1" },
		{ "kdamonds/0/contexts/0/operations", "vaddr" },
		{ "kdamonds/0/contexts/0/monitoring_attrs/intervals/sample_us", "5000" },
		{ "kdamonds/0/contexts/0/monitoring_attrs/intervals/aggr_us", "100000" },
		{ "kdamonds/0/contexts/0/monitoring_attrs/intervals/update_us", "1000000" },
		{ "kdamonds/0/contexts/0/monitoring_attrs/nr_regions/min", "100" },
		{ "kdamonds/0/contexts/0/monitoring_attrs/nr_regions/max", "10000" },
		{ "kdamonds/0/contexts/0/targets/nr_targets", "1" },
	};
	const struct kh_agedrv_paths *p = &a->own;
	struct kh_damon_rec rec = { .owner = (uint32_t)getpid(), .target = a->pid };
	char val[32];
	int err = kh_damon_rec_write(p, &rec);

	if (err) {
		snprintf(why, whylen, "cannot write our record in %s: %s", p->run, strerror(-err));
		return err;
	}
	for (size_t i = 0; !err && i < sizeof(steps) / sizeof(steps[0]); i++) {
		err = kh_damon_w(p, steps[i][0], steps[i][1]);
		if (err)
			snprintf(why, whylen, "DAMON %s <- %s: %s", steps[i][0], steps[i][1],
				 strerror(-err));
	}
	snprintf(val, sizeof(val), "%u", a->pid);
	if (!err && (err = kh_damon_w(p, "kdamonds/0/contexts/0/targets/0/pid_target", val)))
		snprintf(why, whylen, "DAMON pid_target <- %u: %s", a->pid, strerror(-err));
	if (!err && (err = kh_damon_w(p, "kdamonds/0/state", "on")))
		snprintf(why, whylen, "starting our kdamond: %s", strerror(-err));
	if (!err && !(err = kh_damon_r(p, "kdamonds/0/pid", val, sizeof(val)))) {
		rec.kdamond = (uint32_t)atoi(val);
		a->kdamond_pid = rec.kdamond;
		a->damon_on = true;
		err = kh_damon_rec_write(p, &rec);
	}
	if (err) {
		if (!why[0])
			snprintf(why, whylen, "DAMON setup: %s", strerror(-err));
		kh_damon_stop(p);
	}
	return err;
}

/* ---- probe ---- */

void kh_agedrv_probe(struct kh_agedrv_probe *pr, const struct kh_agedrv_paths *paths,
		     uint32_t pid, int force)
{
	struct kh_agedrv_paths p;
	struct utsname u;

	memset(pr, 0, sizeof(*pr));
	kh_paths_fill(&p, paths);
	if (!p.release)
		p.release = uname(&u) ? "?" : u.release;
	pr->chosen = -1;
	pr->forced = force;
	kh_probe_page_idle(&p, &pr->res[KH_AD_PAGE_IDLE]);
	kh_probe_mglru(&p, pid, &pr->res[KH_AD_MGLRU]);
	kh_probe_damon(&p, pid, &pr->res[KH_AD_DAMON], pr->notes, sizeof(pr->notes));
	for (int i = 0; i < KH_AD_MAX && pr->chosen < 0; i++)
		if (pr->res[i].ok && (force < 0 || force == i))
			pr->chosen = i;
}

json_t *kh_agedrv_json(const struct kh_agedrv_probe *p)
{
	json_t *arr = json_array();

	for (int i = 0; i < KH_AD_MAX; i++)
		json_array_append_new(arr, json_pack("{s:s, s:b, s:b, s:s}", "name",
						     kh_agedrv_names[i], "usable", p->res[i].ok,
						     "chosen", p->chosen == i, "reason",
						     p->res[i].why));
	return json_pack("{s:s, s:o, s:s*}", "chosen", kh_agedrv_name(p->chosen), "drivers", arr,
			 "note", p->notes[0] ? p->notes : NULL);
}

void kh_agedrv_print(const struct kh_agedrv_probe *p, FILE *f)
{
	fprintf(f, "\nAging drivers (make KVM age a VM's memory without reclaim):\n");
	for (int i = 0; i < KH_AD_MAX; i++)
		fprintf(f, "  %-10s %-8s %s\n", kh_agedrv_names[i],
			p->chosen == i ? "CHOSEN" : p->res[i].ok ? "usable" : "refused",
			p->res[i].why);
	if (p->chosen < 0)
		fprintf(f, "  -> none usable: idle ages come only from aging something else "
			"triggers (passive)\n");
	if (p->notes[0])
		fprintf(f, "  note: %s\n", p->notes);
}

/* ---- an open driver ---- */

int kh_ager_open(struct kh_ager *a, int id, uint32_t pid, const struct kh_agedrv_paths *paths,
		 char *why, size_t whylen)
{
	struct utsname u;

	memset(a, 0, sizeof(*a));
	a->id = id;
	a->pid = pid;
	a->pagemap_fd = a->bitmap_fd = -1;
	kh_paths_fill(&a->own, paths);
	if (!a->own.release) {
		snprintf(a->release, sizeof(a->release), "%s", uname(&u) ? "?" : u.release);
		a->own.release = a->release;
	}
	why[0] = 0;
	switch (id) {
	case KH_AD_PAGE_IDLE: {
		char path[128];

		snprintf(path, sizeof(path), "%s/%u/pagemap", a->own.proc, pid);
		a->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
		a->bitmap_fd = open(a->own.page_idle, O_WRONLY | O_CLOEXEC);
		if (a->pagemap_fd < 0 || a->bitmap_fd < 0) {
			int err = -errno;

			snprintf(why, whylen, "opening %s: %s", a->pagemap_fd < 0 ? path :
				 a->own.page_idle, strerror(-err));
			kh_ager_close(a);
			return err;
		}
		return 0;
	}
	case KH_AD_MGLRU: {
		int err = kh_memcg_of(&a->own, pid, a->cgpath, sizeof(a->cgpath));

		if (err) {
			snprintf(why, whylen, "no memory cgroup for pid %u: %s", pid, strerror(-err));
			return err;
		}
		kh_memcg_others(&a->own, a->cgpath, pid, a->note, sizeof(a->note));
		return 0;
	}
	case KH_AD_DAMON:
		snprintf(a->note, sizeof(a->note), "DAMON samples one page per region per 5 ms: "
			 "ages are sampled, not per gfn");
		return kh_damon_start(a, why, whylen);
	}
	snprintf(why, whylen, "unknown aging driver %d", id);
	return -EINVAL;
}

static int kh_ager_scan_page_idle(struct kh_ager *a, const struct kh_vm *vm, char *why,
				  size_t whylen)
{
	size_t n = 0, nw, writes = 0, total_w = 0;
	int err = 0;

	a->pages_last = 0;
	for (size_t i = 0; i < vm->nr_slots && !err; i++) {
		const struct kh_slot *s = &vm->slots[i];

		if (s->as_id)
			continue;
		err = kh_pagemap_pfns(a->pagemap_fd, s->hva, s->npages, &a->pfns, &n, &a->pfn_cap);
		if (err) {
			snprintf(why, whylen, "reading pagemap of pid %u: %s", a->pid, strerror(-err));
			break;
		}
		if (n > a->word_cap) {
			struct kh_idle_word *nw2 = realloc(a->words, n * sizeof(*nw2));

			if (!nw2)
				return -ENOMEM;
			a->words = nw2;
			a->word_cap = n;
		}
		nw = kh_pfn_words(a->pfns, n, a->words);
		err = kh_idle_bitmap_write(a->bitmap_fd, a->words, nw, 512, &writes);
		if (err)
			snprintf(why, whylen, "writing %s: %s", a->own.page_idle, strerror(-err));
		a->pages_last += n;
		total_w += writes;
	}
	a->writes_last = total_w;
	return err;
}

static int kh_ager_scan_mglru(struct kh_ager *a, char *why, size_t whylen)
{
	struct kh_lrugen_memcg m;
	int err;
	char *text = kh_slurp(a->own.lru_gen, &err);

	if (!text) {
		snprintf(why, whylen, "reading %s: %s", a->own.lru_gen, strerror(-err));
		return err;
	}
	err = kh_lrugen_parse(text, a->cgpath, &m);
	free(text);
	if (err) {
		snprintf(why, whylen, "memory cgroup %s is not in %s: %s", a->cgpath,
			 a->own.lru_gen, strerror(-err));
		return err;
	}
	a->writes_last = 0;
	for (size_t i = 0; i < m.nr_nodes; i++) {
		err = kh_lrugen_age(a->own.lru_gen, a->cgpath, m.node[i], why, whylen);
		if (err)
			return err;
		a->writes_last++;
	}
	return 0;
}

int kh_ager_scan(struct kh_ager *a, const struct kh_vm *vm, char *why, size_t whylen)
{
	char st[32];
	int err = -EINVAL;

	why[0] = 0;
	switch (a->id) {
	case KH_AD_PAGE_IDLE:
		err = kh_ager_scan_page_idle(a, vm, why, whylen);
		break;
	case KH_AD_MGLRU:
		err = kh_ager_scan_mglru(a, why, whylen);
		break;
	case KH_AD_DAMON:
		/* it runs by itself; a scan is the interval it had */
		err = kh_damon_r(&a->own, "kdamonds/0/state", st, sizeof(st));
		if (!err && strcmp(st, "on"))
			err = -ESRCH;
		if (err)
			snprintf(why, whylen, "our kdamond stopped (state %s): the target exited?",
				 err == -ESRCH ? st : strerror(-err));
		break;
	}
	if (!err)
		a->scans++;
	return err;
}

void kh_ager_close(struct kh_ager *a)
{
	if (a->id == KH_AD_DAMON && a->damon_on) {
		kh_damon_stop(&a->own);
		a->damon_on = false;
	}
	if (a->pagemap_fd >= 0)
		close(a->pagemap_fd);
	if (a->bitmap_fd >= 0)
		close(a->bitmap_fd);
	a->pagemap_fd = a->bitmap_fd = -1;
	free(a->pfns);
	free(a->words);
	a->pfns = NULL;
	a->words = NULL;
	a->pfn_cap = a->word_cap = 0;
}

double kh_ager_kernel_cpu(const struct kh_ager *a)
{
	char path[128], *text, *p;
	unsigned long long ut = 0, st = 0;
	int err;

	if (a->id != KH_AD_DAMON || !a->kdamond_pid)
		return 0;
	snprintf(path, sizeof(path), "%s/%u/stat", a->own.proc, a->kdamond_pid);
	text = kh_slurp(path, &err);
	if (!text)
		return 0;
	p = strrchr(text, ')');
	/* fields after ") ": state(3) ... utime(14) stime(15) */
	if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			&st) != 2)
		ut = st = 0;
	free(text);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}
