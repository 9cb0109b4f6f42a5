// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `kvmheat report`: the command line (kh_report_parse() fills struct
 * kh_report_args) and the run (kh_report_run()); the writers are in
 * src/report.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "report.h"

/* kh_report_parse(): the arguments are good, run. */
#define KH_ARGS_OK	(-1)

static const char kh_report_help[] =
	"Usage: kvmheat report [-i FILE] [--sort accesses|writes|gfn] [--pid P]\n"
	"                      [--gfn START-END] [--time T0-T1]\n"
	"                      [--format text|json|csv|html]\n"
	"                      [-n TOP] [--subpages] [--events] [--max-trace N] [-o OUT]\n"
	"                      [--ws-scans N]\n"
	"Report a recording: per VM the hottest gfn ranges, totals, working set per\n"
	"epoch, idle fraction, idle ages at the last scan (a recording made with\n"
	"--age-driver), and per source the attach method and lost events.\n"
	"  -i, --input FILE     default kvmheat.data\n"
	"  -s, --sort KEY       accesses (default), writes or gfn\n"
	"  -p, --pid P          only this VM: pid, or its recorded name or uuid\n"
	"      --gfn A-B        only gfns A..B (inclusive; decimal or 0x hex)\n"
	"      --time T0-T1     only epochs overlapping T0..T1 s after the start\n"
	"  -f, --format F       text (default), json, csv or html (one self-contained\n"
	"                       page; -o names it); -j is --format json\n"
	"  -n, --top N          ranges and written gfns per VM (default 20)\n"
	"      --subpages       most-written gfns with their 32 sub-page write counts\n"
	"      --events         with --subpages: the per-write trace\n"
	"                       (needs a recording made with record --events)\n"
	"      --max-trace N    writes shown in the text trace (default 200)\n"
	"  -o, --output OUT     write the selected part as a new recording instead\n"
	"                       (with --format html: the page's file)\n"
	"      --ws-scans N     idle view's working set: pages young within the last N\n"
	"                       scans (default 1)\n"
	"  -j, --json           the same as --format json\n"
	"\n"
	"Examples:\n"
	"  kvmheat report -i vm.data\n"
	"  kvmheat report --subpages --events -n 5\n"
	"  kvmheat report --format html -o report.html\n";

static int kh_report_sort_arg(const char *s, enum kh_sort *out)
{
	static const char *names[] = { [KH_SORT_ACCESSES] = "accesses",
				       [KH_SORT_WRITES] = "writes", [KH_SORT_GFN] = "gfn" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
	return -EINVAL;
}

static int kh_report_fmt_arg(const char *s, enum kh_fmt *out)
{
	static const char *names[] = { [KH_FMT_TEXT] = "text", [KH_FMT_JSON] = "json",
				       [KH_FMT_CSV] = "csv", [KH_FMT_HTML] = "html" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
	return -EINVAL;
}

/*
 * KH_ARGS_OK with @a filled, or the exit code to return now (KH_EXIT_OK
 * after -h).
 */
static int kh_report_parse(int argc, char **argv, struct kh_opts *o, struct kh_report_args *a)
{
	static const struct option longopts[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "sort", required_argument, NULL, 's' },
		{ "pid", required_argument, NULL, 'p' },
		{ "gfn", required_argument, NULL, 'g' },
		{ "time", required_argument, NULL, 't' },
		{ "format", required_argument, NULL, 'f' },
		{ "top", required_argument, NULL, 'n' },
		{ "subpages", no_argument, NULL, 'S' },
		{ "events", no_argument, NULL, 'E' },
		{ "max-trace", required_argument, NULL, 'M' },
		{ "output", required_argument, NULL, 'o' },
		KH_LONGOPT_WS_SCANS,
		KH_LONGOPTS_END,
	};
	struct kh_cmdline cl = {
		.cmd = "report", .o = o, .help = kh_report_help, .shortopts = "i:s:p:f:n:o:jvh",
		.longopts = longopts, .own = "j", .pid = &a->f.pid, .pid_name = &a->pid_name,
		.ws_scans = &a->ws_scans,
	};
	uint64_t v;
	int opt;

	*a = (struct kh_report_args){ .in = "kvmheat.data", .top = 20, .max_trace = 200 };
	kh_rd_filter_init(&a->f);
	if (o->json)
		a->fmt = KH_FMT_JSON;
	while ((opt = kh_getopt(&cl, argc, argv)) > 0) {
		switch (opt) {
		case 'i':
			a->in = optarg;
			break;
		case 's':
			if (kh_report_sort_arg(optarg, &a->sort))
				return kh_err(o, KH_EXIT_USAGE, "report: bad --sort '%s' (accesses, "
					      "writes or gfn)", optarg);
			break;
		case 'g':
			if (kh_parse_gfn_range(optarg, &a->f.gfn_lo, &a->f.gfn_hi))
				return kh_err(o, KH_EXIT_USAGE, "report: bad --gfn '%s' (START-END)",
					      optarg);
			break;
		case 't':
			if (kh_parse_trange(optarg, &a->f.t0, &a->f.t1))
				return kh_err(o, KH_EXIT_USAGE, "report: bad --time '%s' (T0-T1 in "
					      "seconds)", optarg);
			a->f.time_set = true;
			break;
		case 'f':
			if (kh_report_fmt_arg(optarg, &a->fmt))
				return kh_err(o, KH_EXIT_USAGE, "report: bad --format '%s' (text, "
					      "json, csv or html)", optarg);
			break;
		case 'n':
			if (kh_parse_u64(optarg, &v) || !v || v > 1000000)
				return kh_err(o, KH_EXIT_USAGE, "report: bad --top '%s'", optarg);
			a->top = v;
			break;
		case 'S':
			a->subpages = true;
			break;
		case 'E':
			a->events = true;
			break;
		case 'M':
			if (kh_parse_u64(optarg, &v))
				return kh_err(o, KH_EXIT_USAGE, "report: bad --max-trace '%s'",
					      optarg);
			a->max_trace = v;
			break;
		case 'o':
			a->out = optarg;
			break;
		case 'j':
			/* JSON errors as everywhere, and --format json: the last one wins */
			o->json = true;
			a->fmt = KH_FMT_JSON;
			break;
		}
	}
	if (opt == KH_OPT_STOP)
		return cl.rc;
	if (a->fmt == KH_FMT_JSON)
		o->json = true;
	return KH_ARGS_OK;
}

/* -o: the selected part as a new recording. */
static int kh_report_run_export(struct kh_report *rp, struct kh_opts *o)
{
	const struct kh_report_args *a = rp->a;
	uint64_t ng = 0, ne = 0;
	char eb[128];
	int err = kh_report_export(rp, &ng, &ne);

	if (err)
		return kh_err(o, KH_EXIT_ERROR, "report: writing %s: %s", a->out,
			      kh_errstr(err, eb, sizeof(eb)));
	if (o->json) {
		json_t *j = json_pack("{s:s, s:s, s:I, s:I}", "input", a->in, "output", a->out,
				      "gfn_entries", (json_int_t)ng, "events", (json_int_t)ne);

		kh_json_print(j, JSON_INDENT(1));
	} else {
		printf("kvmheat: wrote %s: %" PRIu64 " gfn entries, %" PRIu64 " events\n", a->out,
		       ng, ne);
	}
	return KH_EXIT_OK;
}

/* The HTML page, to -o or stdout. */
static int kh_report_run_html(struct kh_report *rp, struct kh_opts *o, const uint32_t *pids,
			      size_t np)
{
	const char *out = rp->a->out;
	FILE *f = out ? fopen(out, "w") : stdout;
	char eb[128];
	int err;

	if (!f)
		return kh_err(o, KH_EXIT_ERROR, "report: cannot create %s: %s", out,
			      kh_errstr(-errno, eb, sizeof(eb)));
	err = kh_report_html(rp, pids, np, f);
	if (out && fclose(f) && !err)
		err = -errno;
	if (err) {
		if (out)
			unlink(out);
		return kh_err(o, KH_EXIT_ERROR, "report: writing %s: %s", out ? out : "stdout",
			      kh_errstr(err, eb, sizeof(eb)));
	}
	if (out)
		fprintf(stderr, "kvmheat: wrote %s: %zu VM%s\n", out, np, np == 1 ? "" : "s");
	return KH_EXIT_OK;
}

/* Totals, then the chosen writer. */
static int kh_report_run_show(struct kh_report *rp, struct kh_opts *o)
{
	const struct kh_report_args *a = rp->a;
	uint32_t *pids = NULL;
	size_t np = 0;
	char eb[128];
	int err, ret = KH_EXIT_OK;

	err = kh_report_load(rp, &pids, &np);
	if (err)
		ret = kh_err(o, KH_EXIT_ERROR, "report: %s", kh_errstr(err, eb, sizeof(eb)));
	else if (a->f.pid && !np)
		ret = kh_err(o, KH_EXIT_NO_VM, "report: pid %u is not in %s", a->f.pid, a->in);
	else if (a->fmt == KH_FMT_CSV)
		kh_report_csv(rp);
	else if (a->fmt == KH_FMT_JSON)
		kh_report_json(rp, pids, np);
	else if (a->fmt == KH_FMT_HTML)
		ret = kh_report_run_html(rp, o, pids, np);
	else
		kh_report_text(rp, pids, np);
	free(pids);
	return ret;
}

static int kh_report_run(struct kh_report_args *a, struct kh_opts *o)
{
	struct kh_report rp = { .a = a, .o = o };
	bool export = a->out && a->fmt != KH_FMT_HTML;	/* -o: a subset recording */
	char why[512];
	int err, ret;

	err = kh_df_read_file(a->in, a->events || export ? KH_RD_EVENTS : 0, &rp.rec, why,
			      sizeof(why));
	if (err)
		return kh_err(o, KH_EXIT_ERROR, "report: %s: %s", a->in, why);
	/* what was cut or skipped is said on stderr whatever the format */
	for (size_t i = 0; i < rp.rec.nr_notes; i++)
		fprintf(stderr, "kvmheat: note: %s: %s\n", a->in, rp.rec.notes[i]);
	if (a->pid_name && kh_rd_pid_by_name(&rp.rec, a->pid_name, &a->f.pid, why,
					     sizeof(why))) {
		kh_report_free(&rp);
		return kh_err(o, KH_EXIT_NO_VM, "report: -p %s: %s in %s", a->pid_name, why,
			      a->in);
	}
	if (a->events && !rp.rec.nr_events && !export)
		kh_warn(o, "%s holds no events (record with --events for the write trace)", a->in);
	ret = export ? kh_report_run_export(&rp, o) : kh_report_run_show(&rp, o);
	kh_report_free(&rp);
	return ret;
}

int kh_cmd_report(int argc, char **argv, struct kh_opts *o)
{
	struct kh_report_args a;
	int ret = kh_report_parse(argc, argv, o, &a);

	return ret != KH_ARGS_OK ? ret : kh_report_run(&a, o);
}
