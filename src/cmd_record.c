// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `kvmheat record`: write epochs of per-gfn count deltas, VM metadata,
 * source descriptions, loss counters and (with --events) the raw event
 * stream to a recording (docs/FORMAT.md).
 *
 * One loop polls the ring buffer, takes an epoch snapshot every -F ms and
 * rediscovers VMs every second.  Snapshots read the cumulative per-gfn
 * maps and write the difference to the previous snapshot: the maps are
 * never cleared, so no update racing with a clear can be lost.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cli.h"
#include "kvmheat.skel.h"

/* What `record` was asked: kh_record_parse() fills it, kh_record_run() takes it. */
struct kh_record_args {
	const char *out;
	uint32_t *pids;
	size_t nr_pids;
	double duration;		/* 0: until stopped */
	uint32_t interval_ms;
	bool fsync;
	char **cmd;			/* after "--" */
	int argc;			/* the command line, for the file's header */
	char **argv;
	struct kh_session_opts so;
	struct kh_scan scan;		/* --age-driver, --scan-interval: want and interval */
};

struct kh_recorder {
	const struct kh_opts *o;
	struct kh_record_args *a;
	struct kh_session s;
	struct kh_dw w;
	struct ring_buffer *rb;
	uint64_t t_start, t_epoch;
	uint32_t epoch;
	struct kh_gfn_stat *prev;	/* last snapshot, sorted by pid and gfn */
	size_t nprev;
	struct kh_vmset known;		/* VMs as last written to the file */
	uint64_t stats[KH_NR_STATS];	/* as last written */
	pid_t child;
	int go_fd, err_fd;		/* COMMAND's release and exec-error pipes */
	int child_status;
	bool child_done;
	uint64_t ev_other;		/* events of VMs not being recorded */
	uint32_t *gone;			/* pids whose exit was recorded */
	size_t ngone, gone_cap;
	uint32_t *followed;		/* COMMAND's descendants seen so far */
	size_t nfollowed, followed_cap;
	uint32_t last_other;		/* last pid that was not one of them */
	uint64_t vms_written;		/* VM records of distinct VMs */
	struct kh_rd_region *cprev;	/* regions with coarse aging, as last written */
	size_t ncprev;
	struct kh_scan scan;		/* --age-driver: idle ages of the recorded VMs */
	bool lost_warned;
};

/*
 * COMMAND and its descendants: the kernel's follow_tgids table says; the
 * answers are cached, since a snapshot asks once per gfn.
 */
static bool kh_recorder_followed(struct kh_recorder *r, uint32_t pid)
{
	if (pid == r->last_other)
		return false;
	for (size_t i = 0; i < r->nfollowed; i++)
		if (r->followed[i] == pid)
			return true;
	if (!kh_session_followed(&r->s, pid)) {
		r->last_other = pid;
		return false;
	}
	if (!kh_grow(&r->followed, &r->followed_cap, r->nfollowed + 1, sizeof(*r->followed)))
		r->followed[r->nfollowed++] = pid;
	return true;
}

static bool kh_recorder_pid_wanted(struct kh_recorder *r, uint32_t pid)
{
	if (r->a->cmd)
		return pid == (uint32_t)r->child || kh_recorder_followed(r, pid);
	if (!r->a->nr_pids)
		return true;
	for (size_t i = 0; i < r->a->nr_pids; i++)
		if (r->a->pids[i] == pid)
			return true;
	return false;
}

/*
 * The change of one gfn since the previous snapshot.  A counter that went
 * down means the LRU map evicted the entry and it started again from zero:
 * then everything it holds now is new.  Returns false if nothing changed.
 */
static bool kh_delta(const struct kh_gfn_stat *c, const struct kh_gfn_stat *p,
		     struct kh_df_gfn *d, struct kh_df_subpage *sd, bool *has_sd)
{
	const struct kh_counts *cc = &c->c;
	uint32_t spbits = 0, m;

	memset(d, 0, sizeof(*d));
	d->gfn = c->gfn;
	if (!p || !kh_counts_sub(cc, &p->c, &d->d)) {
		p = NULL;	/* new, or evicted and begun again: all of it is new */
		d->d = *cc;
	}
	d->d.flags = cc->flags;
	*has_sd = false;
	if (c->has_subpages) {
		sd->gfn = c->gfn;
		for (int k = 0; k < KH_SUBPAGES; k++) {
			uint32_t was = p && p->has_subpages && c->sp.cnt[k] >= p->sp.cnt[k] ?
				       p->sp.cnt[k] : 0;

			sd->cnt[k] = c->sp.cnt[k] - was;
			if (sd->cnt[k]) {
				spbits |= 1U << k;
				*has_sd = true;
			}
		}
	}
	/* sub-pages written this epoch: counted ones, plus bits new to the mask */
	m = spbits | (cc->subpage_mask & ~(p ? p->c.subpage_mask : 0));
	if (d->d.writes && !m)
		m = cc->subpage_mask;
	d->d.subpage_mask = m;
	return kh_counts_any(&d->d) || m || *has_sd;
}

static void kh_recorder_lost(struct kh_recorder *r, uint64_t now, const uint64_t *st)
{
	static const int lost_stats[] = { KH_STAT_LOST, KH_STAT_MAP_FULL, KH_STAT_WALK_LOST };

	for (int src = 0; src < KH_SRC_MAX; src++) {
		for (size_t k = 0; k < sizeof(lost_stats) / sizeof(lost_stats[0]); k++) {
			int i = src * KH_STAT_MAX + lost_stats[k];

			if (st[i] <= r->stats[i])
				continue;
			kh_dw_lost(&r->w, now, src, lost_stats[k], st[i] - r->stats[i], st[i]);
			if (!r->lost_warned)
				kh_warn(r->o, "source %s lost events (%s); the recording "
					"counts them", kh_source_name(src),
					kh_stat_name(lost_stats[k]));
			r->lost_warned = true;
		}
	}
}

/*
 * REGIONS: this epoch's deltas of the regions that saw long-range (huge
 * page) aging, so report can say what was seen only at 2 MiB or coarser.
 * Regions without any are not written: a VM without huge pages costs
 * nothing here.
 */
static int kh_recorder_coarse_regions(struct kh_recorder *r, const struct kh_key *rk,
				      const struct kh_region *rv, size_t n)
{
	struct kh_rd_region *cur = NULL, *p;
	struct kh_df_region *out = NULL;
	uint32_t *opid = NULL;
	size_t m = 0, no = 0;
	int err;

	cur = malloc((n ? n : 1) * sizeof(*cur));
	out = malloc((n ? n : 1) * sizeof(*out));
	opid = malloc((n ? n : 1) * sizeof(*opid));
	if (!cur || !out || !opid) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (rv[i].coarse_aged && kh_recorder_pid_wanted(r, rk[i].pid))
			cur[m++] = (struct kh_rd_region){ .pid = rk[i].pid, .d = {
				.idx = rk[i].idx, .aged = rv[i].c.aged,
				.coarse_aged = rv[i].coarse_aged,
				.coarse_young = rv[i].coarse_young,
				.coarse_pages = rv[i].coarse_pages } };
	qsort(cur, m, sizeof(*cur), kh_rd_region_cmp);
	for (size_t i = 0; i < m; i++) {
		struct kh_df_region d = cur[i].d;

		p = r->ncprev ? bsearch(&cur[i], r->cprev, r->ncprev, sizeof(*cur),
					kh_rd_region_cmp) : NULL;
		if (p && p->d.aged <= d.aged && p->d.coarse_aged <= d.coarse_aged &&
		    p->d.coarse_young <= d.coarse_young) {
			d.aged -= p->d.aged;
			d.coarse_aged -= p->d.coarse_aged;
			d.coarse_young -= p->d.coarse_young;
		}
		if (!d.aged)
			continue;
		opid[no] = cur[i].pid;
		out[no++] = d;
	}
	err = kh_dw_batches(&r->w, KH_DF_REGIONS, opid, out, sizeof(*out), no);
	free(r->cprev);
	r->cprev = cur;
	r->ncprev = m;
	cur = NULL;
out:
	free(cur);
	free(out);
	free(opid);
	return err;
}

/* Each VM a scan aged since the last epoch: its ages into the file. */
static int kh_recorder_idle_write(struct kh_recorder *r, uint64_t now, const uint64_t *before)
{
	/* scans fall on epochs: the next epoch at or after each interval */
	double ep = r->a->interval_ms / 1e3, ivl = ep * ceil(r->scan.interval / ep - 0.1);
	int err = 0;

	for (size_t i = 0; i < r->scan.n && !err; i++) {
		const struct kh_scan_vm *v = &r->scan.vms[i];

		if (!v->st.slots || v->st.scans == before[i])
			continue;
		err = kh_dw_idle(&r->w, now, &v->st, v->ager.id,
				 v->ager.id == KH_AD_DAMON ? KH_DFI_SAMPLED : 0,
				 (uint32_t)(ivl * 1000 + 0.5));
	}
	return err;
}

/*
 * --age-driver: fold the change in the maps since the last epoch into the
 * idle ages (a scan when one ran since; otherwise accesses only reset
 * ages), write the ages of every VM a scan aged, and follow the VMs that
 * came and went.  @g/@rk/@rv: this epoch's whole reads.
 */
static int kh_recorder_idle(struct kh_recorder *r, uint64_t now, const struct kh_gfn_stat *g,
			    size_t n, const struct kh_key *rk, const struct kh_region *rv, size_t nr)
{
	uint64_t *before = malloc((r->scan.n ? r->scan.n : 1) * sizeof(*before));
	int err;

	if (!before)
		return -ENOMEM;
	for (size_t i = 0; i < r->scan.n; i++)
		before[i] = r->scan.vms[i].st.scans;
	err = kh_scan_fold_totals(&r->scan, g, n, rk, rv, nr);
	if (!err)
		err = kh_recorder_idle_write(r, now, before);
	if (!err)
		err = kh_scan_follow(&r->scan, &r->known);
	free(before);
	return err;
}

/* One epoch: the deltas of every wanted gfn, then counters and losses. */
static int kh_recorder_snapshot(struct kh_recorder *r, uint64_t now)
{
	struct kh_gfn_stat *g = NULL;
	struct kh_df_gfn *dg = NULL;
	struct kh_df_subpage *ds = NULL;
	struct kh_key *rk = NULL;
	struct kh_region *rv = NULL;
	uint32_t *gpid = NULL, *spid = NULL;
	uint64_t st[KH_NR_STATS];
	size_t n = 0, m = 0, ng = 0, ns = 0, nr = 0, j = 0;
	int err;

	/* a due scan ages first, so this epoch's deltas hold its results */
	kh_scan_tick(&r->scan, &r->s.vms, kh_now());
	err = kh_read_gfns(bpf_map__fd(r->s.skel->maps.gfns), bpf_map__fd(r->s.skel->maps.subpages),
			   r->a->so.follow ? 0 : r->a->so.pid, &g, &n);
	if (err)
		return err;
	for (size_t i = 0; i < n; i++)
		if (kh_recorder_pid_wanted(r, g[i].pid))
			g[m++] = g[i];
	n = m;
	if (n)	/* an empty read leaves @g NULL: qsort wants an array */
		qsort(g, n, sizeof(*g), kh_pidgfn_cmp);
	dg = malloc((n ? n : 1) * sizeof(*dg));
	ds = malloc((n ? n : 1) * sizeof(*ds));
	gpid = malloc((n ? n : 1) * sizeof(*gpid));
	spid = malloc((n ? n : 1) * sizeof(*spid));
	if (!dg || !ds || !gpid || !spid) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct kh_gfn_stat *p = NULL;
		bool has_sd;

		/* both sorted: walk the previous snapshot alongside */
		while (j < r->nprev && kh_pidgfn_cmp(&r->prev[j], &g[i]) < 0)
			j++;
		if (j < r->nprev && !kh_pidgfn_cmp(&r->prev[j], &g[i]))
			p = &r->prev[j];
		if (!kh_delta(&g[i], p, &dg[ng], &ds[ns], &has_sd))
			continue;
		gpid[ng++] = g[i].pid;
		if (has_sd)
			spid[ns++] = g[i].pid;
	}
	err = kh_dw_epoch(&r->w, r->epoch++, r->t_epoch, now, ng, ns);
	if (!err)
		err = kh_dw_batches(&r->w, KH_DF_GFNS, gpid, dg, sizeof(*dg), ng);
	if (!err)
		err = kh_dw_batches(&r->w, KH_DF_SUBPAGES, spid, ds, sizeof(*ds), ns);
	if (!err)
		err = kh_read_regions(bpf_map__fd(r->s.skel->maps.regions),
				      r->a->so.follow ? 0 : r->a->so.pid, &rk, &rv, &nr);
	if (!err)
		err = kh_recorder_coarse_regions(r, rk, rv, nr);
	if (!err && kh_scan_on(&r->scan))
		err = kh_recorder_idle(r, now, g, n, rk, rv, nr);
	if (!err && !kh_read_stats(&r->s, st)) {
		kh_recorder_lost(r, now, st);
		err = kh_dw_stats(&r->w, now, st);
		memcpy(r->stats, st, sizeof(st));
	}
	if (!err)
		err = kh_dw_flush(&r->w);
	r->t_epoch = now;
	free(r->prev);
	r->prev = g;
	r->nprev = n;
	g = NULL;
out:
	free(g);
	free(dg);
	free(ds);
	free(gpid);
	free(spid);
	free(rk);
	free(rv);
	return err;
}

/* What a VM record holds: an update is written when any of it changes. */
static bool kh_vm_same(const struct kh_vm *a, const struct kh_vm *b)
{
	/* a name read worse than before (an exiting VMM: comm only) is no change */
	bool renamed = b->ident.source >= a->ident.source &&
		       (strcmp(a->ident.name, b->ident.name) || strcmp(a->ident.uuid, b->ident.uuid));

	if (a->nr_slots != b->nr_slots || a->nr_vcpus != b->nr_vcpus || strcmp(a->comm, b->comm) ||
	    renamed)
		return false;
	for (size_t i = 0; i < a->nr_slots; i++)
		if (a->slots[i].base_gfn != b->slots[i].base_gfn ||
		    a->slots[i].npages != b->slots[i].npages ||
		    a->slots[i].as_id != b->slots[i].as_id || a->slots[i].hva != b->slots[i].hva)
			return false;
	return true;
}

/* Write VMs that appeared or changed memslots, and exits, since the last look. */
static int kh_recorder_vms(struct kh_recorder *r, uint64_t now, bool initial)
{
	struct kh_vmset *cur = &r->s.vms, *k = &r->known;
	int err = 0;

	for (size_t i = 0; i < cur->n && !err; i++) {
		const struct kh_vm *vm = &cur->vms[i];
		struct kh_vm *old;

		if (!kh_recorder_pid_wanted(r, vm->pid))
			continue;
		old = kh_vms_find_kvm(k, vm->kvm, vm->pid);
		if (old && kh_vm_same(old, vm))
			continue;
		err = kh_dw_vm_id(&r->w, now, vm->kvm, vm->pid, vm->nr_vcpus, vm->comm, &vm->ident,
				  vm->slots, vm->nr_slots, initial ? KH_DFV_INITIAL : 0);
		if (err)
			break;
		r->vms_written += !old;
		err = kh_vms_put(k, vm);
		if (!initial)
			fprintf(stderr, "kvmheat: VM %u (%s) appeared\n", vm->pid, vm->ident.name);
	}
	for (size_t j = 0; j < k->n && !err;) {
		if (kh_vms_find_kvm(cur, k->vms[j].kvm, k->vms[j].pid)) {
			j++;
			continue;
		}
		err = kh_dw_vm_exit(&r->w, now, k->vms[j].kvm, k->vms[j].pid);
		fprintf(stderr, "kvmheat: VM %u (%s) exited\n", k->vms[j].pid, k->vms[j].comm);
		if (!err && !kh_grow(&r->gone, &r->gone_cap, r->ngone + 1, sizeof(*r->gone)))
			r->gone[r->ngone++] = k->vms[j].pid;
		free(k->vms[j].slots);
		k->vms[j] = k->vms[--k->n];
	}
	return err;
}

/* -name/-uuid of the COMMAND we started, read from the argv we gave it. */
static void kh_recorder_cmd_ident(char **cmd, struct kh_vm_ident *id)
{
	size_t len = 0, off = 0;
	char *buf;

	for (char **c = cmd; *c; c++)
		len += strlen(*c) + 1;
	buf = malloc(len ? len : 1);
	if (!buf)
		return;
	for (char **c = cmd; *c; c++) {
		memcpy(buf + off, *c, strlen(*c) + 1);
		off += strlen(*c) + 1;
	}
	kh_ident_from_cmdline(buf, len, id);	/* leaves @id alone when it has none */
	free(buf);
}

/*
 * A VM that lived between two discoveries still has counts (walks are
 * attributed by tgid): give it a VM record so readers know its pid.
 */
static int kh_recorder_undiscovered(struct kh_recorder *r, uint64_t now)
{
	uint32_t last = 0;
	int err = 0;

	for (size_t i = 0; i < r->nprev && !err; i++) {
		struct kh_vm vm = { .pid = r->prev[i].pid };

		bool gone = false;

		for (size_t g = 0; g < r->ngone && !gone; g++)
			gone = r->gone[g] == vm.pid;
		if (vm.pid == last || gone || kh_vms_find(&r->known, vm.pid))
			continue;
		last = vm.pid;
		snprintf(vm.comm, sizeof(vm.comm), "?");
		if (r->a->cmd && vm.pid == (uint32_t)r->child) {
			const char *b = strrchr(r->a->cmd[0], '/');

			snprintf(vm.comm, sizeof(vm.comm), "%.16s", b ? b + 1 : r->a->cmd[0]);
		}
		kh_proc_comm(vm.pid, vm.comm, sizeof(vm.comm));
		kh_ident_learn(vm.pid, vm.comm, &vm.ident);
		if (vm.ident.source == KH_NAME_COMM && r->a->cmd && vm.pid == (uint32_t)r->child)
			kh_recorder_cmd_ident(r->a->cmd, &vm.ident);	/* it exited: its argv is ours */
		err = kh_dw_vm_id(&r->w, now, 0, vm.pid, 0, vm.comm, &vm.ident, NULL, 0,
				  KH_DFV_UNDISCOVERED);
		r->vms_written++;
	}
	return err;
}

static int kh_recorder_event(void *ctx, void *data, size_t size)
{
	struct kh_recorder *r = ctx;
	const struct kh_event *e = data;

	if (size < sizeof(*e))
		return 0;
	if (!kh_recorder_pid_wanted(r, e->pid)) {
		r->ev_other++;
		return 0;
	}
	return kh_dw_event(&r->w, e);
}

/*
 * What a reader must know about COMMAND's run: that it (and everything it
 * started) ran no VM, or that some of its descendants were not followed.
 * Said on stderr now and kept in the file for report.
 */
static int kh_recorder_cmd_notes(struct kh_recorder *r)
{
	uint64_t lost = kh_session_follow_lost(&r->s);
	char msg[512];
	int err = 0;

	if (!r->vms_written) {
		snprintf(msg, sizeof(msg), "%.200s ran no KVM VM, nor did any process it started"
			 ": nothing was recorded", r->a->cmd[0]);
		kh_warn(r->o, "%s", msg);
		err = kh_dw_note(&r->w, msg);
	}
	if (!err && lost) {
		snprintf(msg, sizeof(msg), "%" PRIu64 " processes started by %.200s were not "
			 "followed (table of followed pids full): their VMs are missing", lost,
			 r->a->cmd[0]);
		kh_warn(r->o, "%s", msg);
		err = kh_dw_note(&r->w, msg);
	}
	return err;
}

static json_t *kh_recorder_header(struct kh_recorder *r, int argc, char **argv)
{
	struct utsname u;
	struct timespec rt;
	char host[256] = "?", when[64];
	json_t *cl = json_array(), *pids = json_array(), *srcs = json_array(), *cmd = json_null();
	struct tm tm;

	if (gethostname(host, sizeof(host) - 1))
		snprintf(host, sizeof(host), "?");
	if (uname(&u))
		memset(&u, 0, sizeof(u));
	clock_gettime(CLOCK_REALTIME, &rt);
	gmtime_r(&rt.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_array_append_new(cl, json_string("kvmheat"));
	for (int i = 0; i < argc; i++)
		json_array_append_new(cl, json_string(argv[i]));
	for (size_t i = 0; i < r->a->nr_pids; i++)
		json_array_append_new(pids, json_integer(r->a->pids[i]));
	if (r->a->cmd) {
		json_decref(cmd);
		cmd = json_array();
		for (char **c = r->a->cmd; *c; c++)
			json_array_append_new(cmd, json_string(*c));
		json_array_append_new(pids, json_integer(r->child));
	}
	for (int src = 0; src < KH_SRC_MAX; src++)
		if (r->a->so.sources & (1U << src))
			json_array_append_new(srcs, json_string(kh_source_name(src)));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:I, s:s, s:I, s:i, s:b, "
			 "s:o, s:o, s:o, s:i, s:i, s:s}",
			 "format", "kvmheat recording", "format_version", "1.1",
			 "kvmheat_version", KH_VERSION, "host", host, "kernel", u.release,
			 "machine", u.machine, "cmdline", cl, "clock", "CLOCK_MONOTONIC",
			 "start_ns", (json_int_t)r->t_start, "start_time", when,
			 "start_realtime_ns",
			 (json_int_t)(rt.tv_sec * 1000000000LL + rt.tv_nsec),
			 "interval_ms", (int)r->a->interval_ms, "events", r->a->so.events,
			 "pids", pids, "command", cmd, "sources_requested", srcs,
			 "page_size", (int)KH_PAGE_SIZE, "subpage_size", 1 << KH_SUBPAGE_SHIFT,
			 "epochs", "deltas");
}

/*
 * fork, and hold the child on a pipe until the recorder is attached, so
 * nothing COMMAND does is missed; the exec error (if any) comes back on a
 * close-on-exec pipe.
 */
static int kh_recorder_fork(struct kh_recorder *r, int *go_fd, int *err_fd)
{
	int go[2], ep[2];

	if (pipe2(go, O_CLOEXEC) || pipe2(ep, O_CLOEXEC))
		return -errno;
	r->child = fork();
	if (r->child < 0)
		return -errno;
	if (!r->child) {
		char c;
		int e;

		close(go[1]);
		close(ep[0]);
		if (read(go[0], &c, 1) != 1)
			_exit(127);	/* the recorder gave up */
		execvp(r->a->cmd[0], r->a->cmd);
		e = errno;
		if (write(ep[1], &e, sizeof(e)) != sizeof(e))
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(ep[1]);
	*go_fd = go[1];
	*err_fd = ep[0];
	return 0;
}

static const char kh_record_help[] =
	"Usage: kvmheat record [-o FILE] [-p PID[,PID..]] [-e SOURCES] [-d SECONDS]\n"
	"                      [-F INTERVAL_MS] [--events] [--fsync] [-j]\n"
	"                      [--method SOURCE=METHOD] [--max-gfns N]\n"
	"                      [--age-driver auto|page_idle|mglru|damon|none] [--scan-interval S]\n"
	"                      [-- COMMAND ARGS]\n"
	"Record per-gfn heat every INTERVAL_MS, VM metadata and (with --events) every\n"
	"event to FILE, until SECONDS pass, Ctrl-C, the VMs given by -p exit or\n"
	"COMMAND exits.  With COMMAND, it is started held until the recorder is\n"
	"attached and recorded alone; with neither -p nor COMMAND, every VM.\n"
	"  -o, --output FILE    default kvmheat.data; an existing one becomes FILE.old\n"
	"  -p, --pid LIST       only these VMs: pids, names or uuids, comma-separated\n"
	"  -e, --sources LIST   aging,track,spp,walk (default all)\n"
	"  -d, --duration S     stop after S seconds\n"
	"  -F, --interval MS    epoch length (default 1000)\n"
	"      --events         also store every event (the sub-page fault trace)\n"
	"      --fsync          fsync after every chunk\n"
	"  -m, --method S=M     force source S to attach method M\n"
	"      --max-gfns N     per-gfn table entries\n"
	"      --ringbuf SIZE   event ring buffer bytes, k/m/g suffixes (default 4m)\n"
	"      --age-driver D   make the kernel age the VMs' memory (auto, page_idle,\n"
	"                       mglru, damon; default none) and record their idle ages\n"
	"                       after every scan, for report and heatmap --metric idle\n"
	"      --scan-interval S  seconds between scans (default: every epoch)\n"
	"  -j, --json           summary as JSON\n"
	"\n"
	"Examples:\n"
	"  kvmheat record -p $(pidof qemu-system-x86_64) -d 60 -o vm.data\n"
	"  kvmheat record -F 500 --events -o boot.data -- qemu-system-x86_64 -accel kvm -m 2G disk.img\n";

static const char *kh_end_name(uint32_t reason)
{
	switch (reason) {
	case KH_END_DURATION:
		return "duration elapsed";
	case KH_END_SIGNAL:
		return "stopped by signal";
	case KH_END_COMMAND:
		return "command exited";
	case KH_END_VM_EXIT:
		return "VM exited";
	default:
		return "error";
	}
}

static bool kh_recorder_pids_gone(struct kh_recorder *r)
{
	for (size_t i = 0; i < r->a->nr_pids; i++)
		if (kh_vms_find(&r->s.vms, r->a->pids[i]))
			return false;
	return r->a->nr_pids > 0;
}

static int kh_recorder_run(struct kh_recorder *r, uint32_t *reason)
{
	struct kh_record_args *a = r->a;
	uint64_t ivl = (uint64_t)a->interval_ms * 1000000ULL, sec = 1000000000ULL;
	uint64_t deadline = a->duration ? r->t_start + (uint64_t)(a->duration * 1e9) : UINT64_MAX;
	uint64_t next_epoch = r->t_start + ivl, next_disc = r->t_start + sec / 10;
	int err = 0;

	for (;;) {
		uint64_t now = kh_now_ns(), wake = next_epoch;
		int wait_ms;

		if (kh_exiting) {
			*reason = KH_END_SIGNAL;
			break;
		}
		if (now >= deadline) {
			*reason = KH_END_DURATION;
			break;
		}
		if (next_disc < wake)
			wake = next_disc;
		if (deadline < wake)
			wake = deadline;
		wait_ms = wake > now ? (int)((wake - now + 999999) / 1000000) : 0;
		if (wait_ms > 100)
			wait_ms = 100;	/* notice a command's exit soon */
		if (r->rb) {
			/* wakeups are batched: what is below the mark is taken here */
			err = ring_buffer__poll(r->rb, wait_ms);
			if (err >= 0 || err == -EINTR)
				err = ring_buffer__consume(r->rb);
			if (err < 0)
				break;
			err = 0;
		} else if (wait_ms) {
			struct timespec ts = { 0, wait_ms * 1000000L };

			nanosleep(&ts, NULL);
		}
		if (r->child && !r->child_done && waitpid(r->child, &r->child_status, WNOHANG) ==
		    r->child) {
			r->child_done = true;
			*reason = KH_END_COMMAND;
			break;
		}
		now = kh_now_ns();
		if (now >= next_disc) {
			bool pending;

			if (!kh_cli_refresh(&r->s, r->o))
				err = kh_recorder_vms(r, now, false);
			if (err)
				break;
			/* until COMMAND's VM shows up, look ten times a second */
			pending = r->child && !r->known.n && !r->ngone;
			next_disc = now + (pending ? sec / 10 : sec);
			if (kh_recorder_pids_gone(r)) {
				*reason = KH_END_VM_EXIT;
				break;
			}
		}
		if (now >= next_epoch) {
			err = kh_recorder_snapshot(r, now);
			if (err)
				break;
			next_epoch += ivl;
			if (next_epoch <= now)
				next_epoch = now + ivl;	/* fell behind: skip, don't burst */
		}
	}
	return err;
}

/* Options into @a; a return >= 0 is the exit code (help, bad usage). */
static int kh_record_parse(int argc, char **argv, struct kh_opts *o, struct kh_record_args *a)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "pid", required_argument, NULL, 'p' },
		KH_LONGOPT_SOURCES,
		{ "duration", required_argument, NULL, 'd' },
		{ "interval", required_argument, NULL, 'F' },
		{ "events", no_argument, NULL, 'E' },
		{ "fsync", no_argument, NULL, 'S' },
		{ "method", required_argument, NULL, 'm' },
		{ "max-gfns", required_argument, NULL, 'G' },
		{ "ringbuf", required_argument, NULL, 'R' },
		KH_LONGOPTS_AGING,
		KH_LONGOPTS_END,
	};
	/* "+": stop at the first non-option, so COMMAND keeps its own options */
	struct kh_cmdline cl = {
		.cmd = "record", .o = o, .help = kh_record_help, .shortopts = "+o:p:e:d:F:m:jvh",
		.longopts = longopts, .operands = true, .duration = &a->duration,
		.sources = &a->so.sources, .force = a->so.force, .scan = &a->scan,
	};
	char why[256];
	uint64_t v;
	int opt, err;

	while ((opt = kh_getopt(&cl, argc, argv)) > 0) {
		switch (opt) {
		case 'o':
			if (!*optarg || !strcmp(optarg, "-"))
				return kh_err(o, KH_EXIT_USAGE, "record: -o needs a file name");
			a->out = optarg;
			break;
		case 'p':
			/* a list, unlike the other commands' -p: pids, names or uuids */
			why[0] = 0;
			err = kh_parse_pid_list(optarg, &a->pids, &a->nr_pids, kh_resolve_vm, why,
						sizeof(why));
			if (err == -ENOENT || err == -EEXIST)
				return kh_err(o, KH_EXIT_NO_VM, "record: -p %s: %s", optarg, why);
			if (err)
				return kh_err(o, KH_EXIT_USAGE, "record: bad pid list '%s'%s%s",
					      optarg, why[0] ? ": " : "", why);
			break;
		case 'F':
			if (kh_parse_u64(optarg, &v) || v < 10 || v > 3600000)
				return kh_err(o, KH_EXIT_USAGE,
					      "record: bad interval '%s' (10..3600000 "
					      "ms)", optarg);
			a->interval_ms = v;
			break;
		case 'E':
			a->so.events = true;
			break;
		case 'S':
			a->fsync = true;
			break;
		case 'G':
			if (kh_parse_u64(optarg, &v) || v < 16 || v > (1ULL << 26))
				return kh_err(o, KH_EXIT_USAGE,
					      "record: bad --max-gfns '%s'", optarg);
			a->so.max_gfns = v;
			break;
		case 'R':
			if (kh_parse_size(optarg, &v) || v < KH_RINGBUF_MIN || v > KH_RINGBUF_MAX)
				return kh_err(o, KH_EXIT_USAGE, "record: bad --ringbuf '%s' (4k to "
					      "1g bytes)", optarg);
			a->so.ringbuf_bytes = v;
			break;
		}
	}
	if (opt == KH_OPT_STOP)
		return cl.rc;
	if (optind < argc) {
		/* getopt leaves "--" consumed; anything left is COMMAND */
		a->cmd = argv + optind;
		if (a->nr_pids)
			return kh_err(o, KH_EXIT_USAGE, "record: give -p or a COMMAND, not both");
	}
	/* polled at least every 100 ms anyway: wake only when a quarter is full */
	a->so.wakeup_bytes = (a->so.ringbuf_bytes ? a->so.ringbuf_bytes : 4U << 20) / 4;
	if (a->nr_pids == 1)
		a->so.pid = a->pids[0];	/* one VM: filter in the kernel */
	if (!a->nr_pids) {
		/* COMMAND's VM or later VMs do not exist yet: size maps for host RAM */
		long pages = sysconf(_SC_PHYS_PAGES);

		a->so.expect_pages = pages > 0 ? (uint64_t)pages : 0;
	}
	a->argc = argc;
	a->argv = argv;
	return -1;
}

/* The file's first chunk: header, sources and the VMs there now. */
static int kh_recorder_begin(struct kh_recorder *r)
{
	struct kh_record_args *a = r->a;
	json_t *hdr;
	int err;

	r->w.fsync = a->fsync;
	r->t_start = r->t_epoch = kh_now_ns();
	hdr = kh_recorder_header(r, a->argc, a->argv);
	err = hdr ? kh_dw_header(&r->w, hdr) : -ENOMEM;
	json_decref(hdr);
	for (int src = 0; src < KH_SRC_MAX && !err; src++) {
		char d[256];
		uint16_t fl = 0;

		kh_source_desc(&r->s.probe, src, d, sizeof(d));
		if (a->so.sources & (1U << src))
			fl |= KH_DFS_REQUESTED;
		if (kh_source_available(&r->s.probe, src))
			fl |= KH_DFS_AVAILABLE;
		err = kh_dw_source(&r->w, src, fl, d);
	}
	if (!err)
		err = kh_recorder_vms(r, r->t_start, true);
	if (!err)
		err = kh_dw_commit(&r->w, true);
	return err;
}

/* Session, file and ring buffer; KH_EXIT_OK or the reported error's code. */
static int kh_recorder_open(struct kh_recorder *r)
{
	struct kh_record_args *a = r->a;
	const struct kh_opts *o = r->o;
	char eb[128];
	int err;

	err = kh_cli_open(&r->s, &a->so, o);
	if (err)
		return err;
	for (size_t i = 0; i < a->nr_pids; i++)
		if (!kh_vms_find(&r->s.vms, a->pids[i]))
			return kh_err(o, KH_EXIT_NO_VM, KH_MSG_NOT_VM, a->pids[i]);
	/*
	 * A driver this host refuses fails before any file exists; the VMs
	 * join the scan set at the first epoch (kh_recorder_idle), and one the
	 * driver refuses then stays passive with a warning.
	 */
	r->scan = a->scan;
	/*
	 * At most one scan an epoch: the final, partial epoch must not scan
	 * again just after the last one (a page used every epoch would read
	 * idle).  0.9: an epoch that starts a little early still scans.
	 */
	if (r->scan.interval < 0.9 * a->interval_ms / 1e3)
		r->scan.interval = 0.9 * a->interval_ms / 1e3;
	err = kh_cli_scan_start(&r->scan, &(struct kh_vmset){ 0 }, "record", o);
	if (err)
		return err;
	err = kh_dw_create(&r->w, a->out);
	if (err)
		return kh_err(o, KH_EXIT_ERROR, "record: cannot create %s: %s", a->out,
			      kh_errstr(err, eb, sizeof(eb)));
	err = kh_recorder_begin(r);
	if (err) {
		kh_dw_abort(&r->w);
		return kh_err(o, KH_EXIT_ERROR, "record: writing %s: %s", a->out,
			      kh_errstr(err, eb, sizeof(eb)));
	}
	if (a->so.events) {
		r->rb = ring_buffer__new(bpf_map__fd(r->s.skel->maps.events), kh_recorder_event, r,
					 NULL);
		if (!r->rb)
			return kh_err(o, KH_EXIT_ERROR, "record: ring buffer: %s",
				      kh_errstr(-errno, eb, sizeof(eb)));
	}
	return kh_cli_attach(&r->s, o);
}

/* Release COMMAND; EOF on the error pipe means its exec succeeded. */
static int kh_recorder_release(struct kh_recorder *r)
{
	int e = EIO;

	if (write(r->go_fd, "g", 1) != 1 || read(r->err_fd, &e, sizeof(e)) == sizeof(e)) {
		waitpid(r->child, NULL, 0);
		r->child = 0;
		return kh_err(r->o, KH_EXIT_ERROR, "record: cannot run %s: %s", r->a->cmd[0],
			      strerror(e));
	}
	close(r->go_fd);
	close(r->err_fd);
	r->go_fd = r->err_fd = -1;
	return KH_EXIT_OK;
}

/* After the loop: the events left, the VMs' last state and a final epoch. */
static int kh_recorder_finish(struct kh_recorder *r, int err, uint32_t *reason)
{
	uint64_t now = kh_now_ns();
	char eb[128];

	if (!err && r->rb)
		err = ring_buffer__consume(r->rb) < 0 ? -EIO : 0;
	if (!err && !kh_cli_refresh(&r->s, r->o))
		err = kh_recorder_vms(r, now, false);
	if (!err)
		err = kh_recorder_snapshot(r, now);
	if (!err)
		err = kh_recorder_undiscovered(r, now);
	if (!err && r->a->cmd)
		err = kh_recorder_cmd_notes(r);
	if (!err)
		return KH_EXIT_OK;
	*reason = KH_END_ERROR;
	return kh_err(r->o, KH_EXIT_ERROR, "record: %s: %s; the file holds everything up to "
		      "epoch %u", r->a->out, kh_errstr(err, eb, sizeof(eb)),
		      r->epoch ? r->epoch - 1 : 0);
}

static void kh_recorder_summary(const struct kh_recorder *r, uint32_t reason)
{
	char eb[32];

	if (r->o->json) {
		json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I}",
			"output", r->a->out, "end", kh_end_name(reason),
			"epochs", (json_int_t)r->w.nr_epochs, "events", (json_int_t)r->w.nr_events,
			"bytes", (json_int_t)r->w.off, "chunks", (json_int_t)r->w.seq,
			"events_other_vms", (json_int_t)r->ev_other);

		kh_json_print(j, JSON_INDENT(1));
		return;
	}
	fprintf(stderr, "kvmheat: %s: wrote %s: %" PRIu64 " epochs, %" PRIu64 " events, %s in "
		"%u chunks\n", kh_end_name(reason), r->a->out, r->w.nr_epochs, r->w.nr_events,
		kh_fmt_bytes(r->w.off, eb, sizeof(eb)), r->w.seq);
}

/* Footer and close, if the file was begun; the summary when all went well. */
static int kh_recorder_close(struct kh_recorder *r, int ret, uint32_t reason)
{
	char eb[128];
	int cerr;

	if (r->w.fd < 0)
		return ret;
	kh_dw_footer(&r->w, kh_now_ns(), r->child_done ? r->child_status : -1, reason);
	cerr = kh_dw_close(&r->w);
	if (cerr && ret == KH_EXIT_OK)
		ret = kh_err(r->o, KH_EXIT_ERROR, "record: finishing %s: %s", r->a->out,
			     kh_errstr(cerr, eb, sizeof(eb)));
	if (ret == KH_EXIT_OK)
		kh_recorder_summary(r, reason);
	return ret;
}

static void kh_recorder_free(struct kh_recorder *r)
{
	if (r->child && !r->child_done && r->go_fd >= 0) {
		/* never released: it exits on EOF; make sure of it */
		kill(r->child, SIGKILL);
		waitpid(r->child, NULL, 0);
	}
	if (r->go_fd >= 0)
		close(r->go_fd);
	if (r->err_fd >= 0)
		close(r->err_fd);
	ring_buffer__free(r->rb);
	kh_scan_free(&r->scan);	/* kernel state (a kdamond) before the session */
	kh_session_close(&r->s);
	kh_vms_free(&r->known);
	free(r->prev);
	free(r->gone);
	free(r->followed);
	free(r->cprev);
}

static int kh_record_run(struct kh_record_args *a, struct kh_opts *o)
{
	struct kh_recorder r = { .o = o, .a = a, .w = { .fd = -1 }, .go_fd = -1, .err_fd = -1 };
	uint32_t reason = KH_END_ERROR;
	char eb[128];
	int err, ret;

	if (a->cmd) {
		err = kh_recorder_fork(&r, &r.go_fd, &r.err_fd);
		if (err)
			return kh_err(o, KH_EXIT_ERROR, "record: cannot start %s: %s", a->cmd[0],
				      kh_errstr(err, eb, sizeof(eb)));
		a->so.pid = r.child;
		a->so.pid_pending = true;
		a->so.follow = true;	/* and whatever it starts: a wrapper, sudo, env */
	}
	ret = kh_recorder_open(&r);
	if (!ret) {
		kh_install_signals();
		if (a->cmd)
			ret = kh_recorder_release(&r);
	}
	if (!ret) {
		fprintf(stderr, "kvmheat: recording %s to %s every %u ms%s; Ctrl-C to stop\n",
			a->cmd ? a->cmd[0] : a->nr_pids ? "the given VMs" : "all VMs", a->out,
			a->interval_ms, a->so.events ? " with events" : "");
		err = kh_recorder_run(&r, &reason);
		ret = kh_recorder_finish(&r, err, &reason);
	}
	ret = kh_recorder_close(&r, ret, reason);
	kh_recorder_free(&r);
	return ret;
}

int kh_cmd_record(int argc, char **argv, struct kh_opts *o)
{
	struct kh_record_args a = {
		.out = "kvmheat.data", .interval_ms = 1000,
		.so = { .sources = KH_ALL_SOURCES }, .scan = { .want = KH_SCAN_NONE },
	};
	int rc = kh_record_parse(argc, argv, o, &a);

	if (rc < 0)
		rc = kh_record_run(&a, o);
	free(a.pids);
	return rc;
}
