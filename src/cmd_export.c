// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `kvmheat export`: a Prometheus exporter and a textfile writer.
 *
 * The main thread is the sampler: every interval it drains the BPF maps
 * (kh_drain_map, as top does), rediscovers VMs and folds the interval into
 * a new snapshot (export.c), then swaps it in under a write lock.  HTTP is
 * libmicrohttpd's (Debian libmicrohttpd-dev), run in its own thread pool;
 * a scrape takes the read lock and renders the current snapshot, so it
 * never waits for BPF work and costs O(VMs).  libmicrohttpd bounds what
 * a bad client can hold: its per-connection memory limit answers an
 * oversized header with an error, and idle or half-sent connections are
 * dropped after a timeout.
 *
 * Static builds (STATIC=1, the nested-kernel rig) leave the HTTP server
 * out: Debian's libmicrohttpd.a needs GnuTLS and p11-kit static archives
 * that Debian does not ship.  --textfile works there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#ifndef KH_NO_MICROHTTPD
#include <microhttpd.h>
#endif
#include "cli.h"
#include "export.h"
#include "kvmheat.skel.h"

#define KH_EXP_MAX_PIDS	64

struct kh_export_args {
	char addr[64];			/* numeric IPv4 or IPv6 address */
	uint16_t port;
	bool listen;			/* serve HTTP (default; off with only --textfile) */
	const char *textfile;
	double interval;
	uint32_t *pids;			/* -p LIST (malloc'd) */
	size_t nr_pids;
	struct kh_session_opts so;
	struct kh_scan scan;		/* --age-driver, --scan-interval */
};

struct kh_exporter {
	const struct kh_opts *o;
	const struct kh_export_args *a;
	struct kh_session s;
	struct kh_interval iv;		/* this interval's drained maps */
	pthread_rwlock_t lock;		/* guards cur: scrapes read, the sampler swaps */
	struct kh_exp_snap cur;
	struct kh_scan scan;		/* the sampler's only: idle ages per VM */
	char kernel[65];
};

/* ---- parse step ---- */

static const char kh_export_help[] =
	"Usage: kvmheat export [-l ADDR:PORT] [--textfile PATH] [-i SECONDS] [-p PID,..]\n"
	"                      [-e SOURCES] [-m SOURCE=METHOD]\n"
	"                      [--age-driver auto|page_idle|mglru|damon|none] [--scan-interval S]\n"
	"                      [--ws-scans N]\n"
	"Serve per-VM access and write rates, working set, a per-page access histogram,\n"
	"losses and kvmheat's own BPF cost to Prometheus: GET /metrics in the text format\n"
	"0.0.4, or OpenMetrics 1.0.0 when the Accept header asks for it (or\n"
	"?format=openmetrics / ?format=prometheus); GET / is a landing page.\n"
	"  -l, --listen ADDR:PORT  where to serve (default 127.0.0.1:8477; [::1]:PORT for\n"
	"                          IPv6).  Any other address exposes the metrics there.\n"
	"      --textfile PATH     also write the text format to PATH every interval (temp\n"
	"                          file + rename) for node_exporter's textfile collector;\n"
	"                          without -l, only the file is written\n"
	"  -i, --interval S        sampling interval (default 5; 0.2 to 3600)\n"
	"  -p, --pid LIST          only these VMs (their VMMs' pids)\n"
	"  -e, --sources LIST      aging,track,spp,walk (default all)\n"
	"  -m, --method S=M        force source S to attach method M\n"
	"      --age-driver D      make the kernel age each VM's memory (auto: the best\n"
	"                          one kvmheat probe lists) and export idle ages:\n"
	"                          kvmheat_idle_ratio, kvmheat_cold_bytes.  Default none:\n"
	"                          those series are absent.  auto with no usable driver\n"
	"                          warns and carries on passively\n"
	"      --scan-interval S   seconds between scans (default: every interval)\n"
	"      --ws-scans N        kvmheat_idle_working_set_bytes: pages young within the\n"
	"                          last N scans (default 1)\n"
	"  -j, --json              errors as JSON\n"
	"\n"
	"Examples:\n"
	"  kvmheat export\n"
	"  kvmheat export -l 0.0.0.0:8477 -i 10\n"
	"  kvmheat export --textfile /var/lib/node_exporter/textfile/kvmheat.prom\n";

/* "ADDR:PORT", "[V6ADDR]:PORT" or ":PORT"; numeric only, never a DNS lookup. */
static int kh_export_parse_listen(const char *s, struct kh_export_args *a)
{
	const char *colon = strrchr(s, ':');
	size_t alen;
	uint64_t port;
	unsigned char sa[sizeof(struct in6_addr)];

	if (!colon || kh_parse_u64(colon + 1, &port) || !port || port > 65535)
		return -EINVAL;
	alen = colon - s;
	if (alen >= 2 && s[0] == '[' && s[alen - 1] == ']') {
		s++;
		alen -= 2;
	}
	if (alen >= sizeof(a->addr))
		return -EINVAL;
	if (alen)
		snprintf(a->addr, sizeof(a->addr), "%.*s", (int)alen, s);
	if (inet_pton(AF_INET, a->addr, sa) != 1 && inet_pton(AF_INET6, a->addr, sa) != 1)
		return -EINVAL;
	a->port = port;
	return 0;
}

/* Fill @a from the command line: -1 to go on, else the exit code (0 after -h). */
static int kh_export_parse(int argc, char **argv, struct kh_opts *o, struct kh_export_args *a)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "textfile", required_argument, NULL, 'T' },
		{ "interval", required_argument, NULL, 'i' },
		{ "pid", required_argument, NULL, 'p' },
		KH_LONGOPT_SOURCES,
		{ "method", required_argument, NULL, 'm' },
		KH_LONGOPTS_AGING, KH_LONGOPT_WS_SCANS,
		KH_LONGOPTS_END,
	};
	struct kh_cmdline cl = {
		.cmd = "export", .o = o, .help = kh_export_help, .shortopts = "l:i:p:e:m:jvh",
		.longopts = longopts, .sources = &a->so.sources, .force = a->so.force,
		.scan = &a->scan,
		.ws_scans = &a->scan.ws_scans,
	};
	bool listen_set = false;
	int opt;

	snprintf(a->addr, sizeof(a->addr), KH_EXP_ADDR);
	a->port = KH_EXP_PORT;
	a->interval = 5;
	a->so.sources = KH_ALL_SOURCES;
	a->scan.want = KH_SCAN_NONE;
	while ((opt = kh_getopt(&cl, argc, argv)) > 0) {
		switch (opt) {
		case 'l':
			if (kh_export_parse_listen(optarg, a))
				return kh_err(o, KH_EXIT_USAGE, "export: bad --listen '%s' (want "
					      "ADDR:PORT, numeric)", optarg);
			listen_set = true;
			break;
		case 'T':
			if (!*optarg)
				return kh_err(o, KH_EXIT_USAGE, "export: empty --textfile");
			a->textfile = optarg;
			break;
		case 'i':
			if (kh_parse_seconds(optarg, &a->interval) || a->interval < 0.2 ||
			    a->interval > 3600)
				return kh_err(o, KH_EXIT_USAGE, "export: bad interval '%s' (0.2 to "
					      "3600 seconds)", optarg);
			break;
		case 'p':
			if (kh_parse_pid_list(optarg, &a->pids, &a->nr_pids, NULL, NULL, 0) ||
			    a->nr_pids > KH_EXP_MAX_PIDS)
				return kh_err(o, KH_EXIT_USAGE, "export: bad pid list '%s' (up to "
					      "%d pids)", optarg, KH_EXP_MAX_PIDS);
			break;
		}
	}
	if (opt == KH_OPT_STOP)
		return cl.rc;
	a->listen = listen_set || !a->textfile;
	/* one VM: filter in the kernel; several: in the sampler */
	a->so.pid = a->nr_pids == 1 ? a->pids[0] : 0;
	return -1;
}

/* ---- sampling ---- */

/* The VMs the user asked for (all without -p), sharing @all's slot arrays. */
static int kh_export_filter(const struct kh_export_args *a, const struct kh_vmset *all,
			    struct kh_vmset *out)
{
	out->n = 0;
	out->vms = calloc(all->n ? all->n : 1, sizeof(*out->vms));
	if (!out->vms)
		return -ENOMEM;
	for (size_t i = 0; i < all->n; i++) {
		bool want = !a->nr_pids;

		for (size_t j = 0; j < a->nr_pids && !want; j++)
			want = a->pids[j] == all->vms[i].pid;
		if (want)
			out->vms[out->n++] = all->vms[i];
	}
	return 0;
}

/* Attach methods chosen for @src, comma-joined, or "none". */
static void kh_export_methods(const struct kh_probe *p, enum kh_source src, char *buf,
			      size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	for (size_t i = 0; i < kh_nr_hooks; i++) {
		const char *m;
		int c = p->hooks[i].chosen;

		if (kh_hooks[i].src != src || c < 0)
			continue;
		m = kh_method_name(kh_hooks[i].cands[c].method);
		if (strstr(buf, m))
			continue;
		off += snprintf(buf + off, off < len ? len - off : 0, "%s%s", off ? "," : "", m);
	}
	if (!buf[0])
		snprintf(buf, len, "none");
}

/* The global half of a snapshot: sources, losses, BPF cost. */
static void kh_export_globals(struct kh_exporter *x, struct kh_exp_snap *n)
{
	uint64_t stats[KH_NR_STATS] = {};

	snprintf(n->version, sizeof(n->version), "%s", KH_VERSION);
	snprintf(n->kernel, sizeof(n->kernel), "%s", x->kernel);
	n->interval = x->a->interval;
	n->samples = x->cur.samples + 1;
	kh_read_stats(&x->s, stats);
	for (int src = 0; src < KH_SRC_MAX; src++) {
		struct kh_exp_src *e = &n->src[src];
		const uint64_t *st = &stats[src * KH_STAT_MAX];

		e->requested = x->a->so.sources & (1U << src);
		e->available = kh_source_available(&x->s.probe, src);
		kh_export_methods(&x->s.probe, src, e->method, sizeof(e->method));
		kh_source_desc(&x->s.probe, src, e->hooks, sizeof(e->hooks));
		e->events = st[KH_STAT_EVENTS];
		e->lost = st[KH_STAT_MAP_FULL] + st[KH_STAT_WALK_LOST] + st[KH_STAT_LOST];
	}
	kh_session_cost(&x->s, &n->bpf_runs, &n->bpf_ns, &n->cost_on);
	n->map_bytes = kh_session_map_bytes(&x->s);
}

/* --age-driver: fold the interval into the idle ages, copy each VM's summary in. */
static int kh_export_idle(struct kh_exporter *x, struct kh_exp_snap *n,
			  const struct kh_vmset *want)
{
	int err;

	if (!kh_scan_on(&x->scan))
		return 0;
	err = kh_scan_fold(&x->scan, x->iv.gd.keys, x->iv.gd.vals, x->iv.gd.n, x->iv.rd.keys,
			   x->iv.rd.vals, x->iv.rd.n);
	/* a VM that came later and refuses the driver stays passive, with a note */
	if (!err)
		err = kh_scan_follow(&x->scan, want);
	if (err)
		return err;	/* -ENOMEM only */
	n->scan_interval = x->scan.interval > x->a->interval ? x->scan.interval : x->a->interval;
	for (size_t i = 0; i < n->n; i++) {
		const struct kh_idle_sum *sum = kh_scan_sum(&x->scan, n->vms[i].pid);
		uint64_t aged, young, wset;

		if (sum)
			n->vms[i].idle = *sum;
		/* checks kept in idle bits made no region entry: the counters still count them */
		if (kh_scan_bits_counts(&x->scan, n->vms[i].pid, &aged, &young, &wset)) {
			n->vms[i].wset_pages += wset;
			n->vms[i].tot.aged += aged;
			n->vms[i].tot.young += young;
			n->vms[i].tot.accesses += young;
		}
	}
	return 0;
}

/* Drain the maps, fold the interval into a new snapshot and swap it in. */
static int kh_export_sample(struct kh_exporter *x)
{
	struct kh_exp_snap n = {}, old;
	struct kh_vmset want = {};
	double t0 = kh_now();
	int err;

	/* a due scan runs just before the drain that collects its results */
	kh_scan_tick(&x->scan, &x->s.vms, t0);
	err = kh_drain_session(&x->s, &x->iv);
	kh_export_globals(x, &n);
	/* a failed rediscovery keeps the last VM list (kh_cli_refresh warns) */
	kh_cli_refresh(&x->s, x->o);
	if (!err)
		err = kh_export_filter(x->a, &x->s.vms, &want);
	if (!err)
		err = kh_exp_fold(&n, &x->cur, &want, 0, x->iv.rd.keys, x->iv.rd.vals, x->iv.rd.n,
				  x->iv.gd.keys, x->iv.gd.vals, x->iv.gd.n);
	if (!err)
		err = kh_export_idle(x, &n, &want);
	free(want.vms);
	n.up = !err;
	n.sample_seconds = kh_now() - t0;
	if (err) {
		/* keep the last good per-VM figures, say that this interval failed */
		kh_exp_snap_free(&n);
		n.vms = calloc(x->cur.n ? x->cur.n : 1, sizeof(*n.vms));
		if (n.vms) {
			memcpy(n.vms, x->cur.vms, x->cur.n * sizeof(*n.vms));
			n.n = x->cur.n;
		}
	}
	pthread_rwlock_wrlock(&x->lock);
	old = x->cur;
	x->cur = n;
	pthread_rwlock_unlock(&x->lock);
	kh_exp_snap_free(&old);
	return err;
}

/* ---- serving ---- */

#ifndef KH_NO_MICROHTTPD
static const char kh_export_landing[] =
	"<!DOCTYPE html>\n<html><head><title>kvmheat exporter</title></head><body>\n"
	"<h1>kvmheat exporter</h1>\n<p>Per-VM guest memory heat for Prometheus: "
	"<a href=\"/metrics\">/metrics</a> (text 0.0.4, or OpenMetrics 1.0.0 by Accept "
	"header).</p>\n</body></html>\n";

static enum MHD_Result kh_export_reply(struct MHD_Connection *c, unsigned int status,
				       const char *type, char *body, size_t len, bool owned)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, owned ?
		MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r) {
		if (owned)
			free(body);
		return MHD_NO;	/* libmicrohttpd closes the connection */
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result kh_export_metrics(struct kh_exporter *x, struct MHD_Connection *c)
{
	const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
	enum kh_exp_fmt fmt;
	char *body;
	size_t len;
	int err;

	/* ?format= overrides Accept: for scrapers that cannot set the header */
	if (q && !strcmp(q, "openmetrics"))
		fmt = KH_EXP_OPENMETRICS;
	else if (q && !strcmp(q, "prometheus"))
		fmt = KH_EXP_TEXT;
	else if (q)
		return kh_export_reply(c, MHD_HTTP_BAD_REQUEST, "text/plain; charset=utf-8",
				       (char *)"format must be openmetrics or prometheus\n", 42,
				       false);
	else
		fmt = kh_exp_negotiate(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
								   MHD_HTTP_HEADER_ACCEPT));
	pthread_rwlock_rdlock(&x->lock);
	err = kh_exp_render(&x->cur, fmt, &body, &len);
	pthread_rwlock_unlock(&x->lock);
	if (err)
		return kh_export_reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
				       "text/plain; charset=utf-8", (char *)"out of memory\n", 14,
				       false);
	return kh_export_reply(c, MHD_HTTP_OK, fmt == KH_EXP_OPENMETRICS ? KH_EXP_CT_OM :
			       KH_EXP_CT_TEXT, body, len, true);
}

static enum MHD_Result kh_export_handle(void *cls, struct MHD_Connection *c, const char *url,
					const char *method, const char *version,
					const char *upload, size_t *upload_size, void **req)
{
	static const char not_allowed[] = "only GET and HEAD\n", not_found[] = "not found\n";

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return kh_export_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
				       (char *)not_allowed, sizeof(not_allowed) - 1, false);
	if (!strcmp(url, "/metrics"))
		return kh_export_metrics(cls, c);
	if (!strcmp(url, "/"))
		return kh_export_reply(c, MHD_HTTP_OK, "text/html; charset=utf-8",
				       (char *)kh_export_landing, sizeof(kh_export_landing) - 1,
				       false);
	return kh_export_reply(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8",
			       (char *)not_found, sizeof(not_found) - 1, false);
}

/* Our own listening socket, so "address in use" is reported as exactly that. */
static int kh_export_listen(const struct kh_export_args *a, char *why, size_t len)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(a->port) };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(a->port) };
	bool v6 = inet_pton(AF_INET, a->addr, &s4.sin_addr) != 1;
	int one = 1, fd;

	if (v6 && inet_pton(AF_INET6, a->addr, &s6.sin6_addr) != 1) {
		snprintf(why, len, "bad address %s", a->addr);
		return -EINVAL;
	}
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (v6 ? bind(fd, (struct sockaddr *)&s6, sizeof(s6)) :
	     bind(fd, (struct sockaddr *)&s4, sizeof(s4))) || listen(fd, 256)) {
		int err = -errno;

		snprintf(why, len, "cannot listen on %s%s%s:%u: %s", v6 ? "[" : "", a->addr,
			 v6 ? "]" : "", a->port, strerror(-err));
		if (fd >= 0)
			close(fd);
		return err;
	}
	return fd;
}

/*
 * Two threads share the connections (epoll); a connection idle for 10 s
 * is closed, a request whose header does not fit in 32 KiB gets an error
 * answer, and at most 512 connections are open (file descriptors are
 * limited, and BPF objects need some).
 */
static struct MHD_Daemon *kh_export_serve(struct kh_exporter *x, int fd)
{
	return MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | (x->o->verbose ?
				MHD_USE_ERROR_LOG : 0), 0, NULL, NULL, kh_export_handle, x,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_THREAD_POOL_SIZE, 2U,
				MHD_OPTION_CONNECTION_LIMIT, 512U,
				MHD_OPTION_CONNECTION_TIMEOUT, 10U,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
				MHD_OPTION_END);
}
#endif /* KH_NO_MICROHTTPD */

/* ---- run step ---- */

/* The current snapshot into --textfile, if one was asked for. */
static int kh_export_textfile(struct kh_exporter *x)
{
	char why[256];
	int err;

	if (!x->a->textfile)
		return KH_EXIT_OK;
	pthread_rwlock_rdlock(&x->lock);
	err = kh_exp_write_textfile(x->a->textfile, &x->cur, why, sizeof(why));
	pthread_rwlock_unlock(&x->lock);
	return err ? kh_err(x->o, KH_EXIT_ERROR, "export: %s", why) : KH_EXIT_OK;
}

static int kh_export_loop(struct kh_exporter *x)
{
	double next = kh_now() + x->a->interval;
	bool warned = false;
	char eb[128];

	while (!kh_exiting) {
		int err;

		kh_sleep_until(next, 0.1);
		if (kh_exiting)
			break;
		next += x->a->interval;
		if (next < kh_now())	/* a slow sample: skip, do not catch up in a burst */
			next = kh_now() + x->a->interval;
		err = kh_export_sample(x);
		if (err && !warned)
			kh_warn(x->o, "export: reading BPF maps: %s (kvmheat_up is 0)",
				kh_errstr(err, eb, sizeof(eb)));
		warned = err != 0;
		err = kh_export_textfile(x);
		if (err)
			return err;
	}
	return KH_EXIT_OK;
}

/*
 * Every -p PID must be a VM, checked before anything else is said (one
 * pid is checked by kh_session_open, before its probe warnings).
 */
static int kh_export_check_pids(struct kh_exporter *x)
{
	struct kh_vmset set = {};
	char why[256];
	int err;

	if (x->a->nr_pids < 2)
		return KH_EXIT_OK;
	err = kh_vms_discover(&set, why, sizeof(why));
	if (err)
		return kh_err(x->o, err == -EPERM ? KH_EXIT_ENV : KH_EXIT_ERROR, "export: %s%s%s",
			      why, err == -EPERM ? " (" KH_MSG_PRIVS : "", err == -EPERM ? ")" : "");
	for (size_t i = 0; i < x->a->nr_pids && !err; i++)
		if (!kh_vms_find(&set, x->a->pids[i]))
			err = kh_err(x->o, KH_EXIT_NO_VM, KH_MSG_NOT_VM, x->a->pids[i]);
	kh_vms_free(&set);
	return err;
}

static int kh_export_run(struct kh_exporter *x)
{
	struct kh_session_opts so;
	struct utsname un;
	int fd = -1, err;
	void *d = NULL;

	snprintf(x->kernel, sizeof(x->kernel), "%s", uname(&un) ? "?" : un.release);
#ifdef KH_NO_MICROHTTPD
	if (x->a->listen)
		return kh_err(x->o, KH_EXIT_ENV, "export: this static build has no HTTP server "
			      "(Debian ships no static libp11-kit, which libmicrohttpd.a needs "
			      "through GnuTLS); use --textfile PATH, or the dynamic build");
#else
	/* bind first: a port in use fails before any BPF is loaded */
	if (x->a->listen) {
		char why[256];

		fd = kh_export_listen(x->a, why, sizeof(why));
		if (fd < 0)
			return kh_err(x->o, KH_EXIT_ERROR, "export: %s", why);
	}
#endif
	err = kh_export_check_pids(x);
	/* with a driver, aging results go to each VM's idle bits (scan.h) */
	so = x->a->so;
	so.idle_bits = kh_scan_on(&x->a->scan);
	if (!err)
		err = kh_cli_start(&x->s, &so, x->o);
	if (!err) {
		struct kh_vmset want = {};

		/* only the VMs asked for (-p) get a driver */
		x->scan = x->a->scan;
		x->scan.next = 0;
		kh_cli_scan_bits(&x->scan, &x->s, "export", x->o);
		if (kh_export_filter(x->a, &x->s.vms, &want))
			err = kh_err(x->o, KH_EXIT_ERROR, "export: out of memory");
		else if (!err)
			err = kh_cli_scan_start(&x->scan, &want, "export", x->o);
		free(want.vms);
	}
	if (!err && kh_export_sample(x))	/* empty the maps of what attaching saw */
		err = kh_err(x->o, KH_EXIT_ERROR, "export: reading BPF maps failed");
	if (err)
		goto out;
	x->cur.samples = 0;
	/* a file that cannot be written is an error now, not an interval later */
	err = kh_export_textfile(x);
	if (err)
		goto out;
	kh_install_signals();
	signal(SIGPIPE, SIG_IGN);
#ifndef KH_NO_MICROHTTPD
	if (fd >= 0) {
		/* the server's threads inherit this mask: signals reach the sampler */
		sigset_t set, prev;

		sigemptyset(&set);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGTERM);
		pthread_sigmask(SIG_BLOCK, &set, &prev);
		d = kh_export_serve(x, fd);
		pthread_sigmask(SIG_SETMASK, &prev, NULL);
		if (!d) {
			err = kh_err(x->o, KH_EXIT_ERROR, "export: starting the HTTP server on "
				     "%s:%u failed", x->a->addr, x->a->port);
			goto out;
		}
		fd = -1;	/* the daemon owns it now */
	}
#endif
	if (d) {
		bool v6 = strchr(x->a->addr, ':');

		fprintf(stderr, "kvmheat: export: serving http://%s%s%s:%u/metrics every %.1f s\n",
			v6 ? "[" : "", x->a->addr, v6 ? "]" : "", x->a->port, x->a->interval);
	}
	if (x->a->textfile)
		fprintf(stderr, "kvmheat: export: writing %s every %.1f s\n", x->a->textfile,
			x->a->interval);
	err = kh_export_loop(x);
out:
#ifndef KH_NO_MICROHTTPD
	if (d)
		MHD_stop_daemon(d);
#endif
	if (fd >= 0)
		close(fd);
	return err;
}

int kh_cmd_export(int argc, char **argv, struct kh_opts *o)
{
	struct kh_export_args a = {};
	struct kh_exporter *x;
	int err = kh_export_parse(argc, argv, o, &a);

	if (err >= 0) {
		free(a.pids);
		return err;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		free(a.pids);
		return kh_err(o, KH_EXIT_ERROR, "out of memory");
	}
	x->o = o;
	x->a = &a;
	pthread_rwlock_init(&x->lock, NULL);
	err = kh_export_run(x);
	kh_scan_free(&x->scan);	/* kernel state (a kdamond) first */
	kh_session_close(&x->s);
	kh_interval_free(&x->iv);
	kh_exp_snap_free(&x->cur);
	pthread_rwlock_destroy(&x->lock);
	free(x);
	free(a.pids);
	return err;
}
