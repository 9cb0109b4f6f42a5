// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `kvmheat heatmap`: draw a recording as time x guest physical address
 * (src/hmap.c builds the grid, src/draw.c draws it).  kh_heatmap_parse()
 * fills struct kh_heatmap_args from the command line, kh_heatmap_run()
 * does the work, as perf's cmd_record/__cmd_record do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include "cli.h"
#include "canvas.h"
#include "chart.h"
#include "hmap.h"

struct kh_heatmap_args {
	const char *in, *out;
	bool term;		/* -o -: the terminal */
	bool writes;
	bool idle;		/* --metric idle: idle ages (a recording made with --age-driver) */
	bool gfn_axis;		/* --axis gfn */
	int color;		/* --color: -1 auto, 0 never, 1 always */
	const char *pid_name;	/* -p NAME: matched against the recording */
	bool chart;		/* --chart KIND instead of the heatmap */
	enum kh_chart_kind kind;
	size_t rows, cols;	/* 0: the output's default */
	struct kh_rd_filter f;
};

/* kh_heatmap_parse(): the arguments are good, run. */
#define KH_ARGS_OK	(-1)

static const char kh_heatmap_help[] =
	"Usage: kvmheat heatmap [-i FILE] [-o OUT] [--pid P] [--writes]\n"
	"                       [--metric accesses|writes|idle] [--rows N]\n"
	"                       [--cols N] [--time T0-T1] [--gfn A-B] [--axis gpa|gfn]\n"
	"                       [--color WHEN] [--chart wss|rates|cold]\n"
	"Draw a recording: x = time (epochs), y = guest physical address (memslot\n"
	"holes squeezed out, cropped to what was touched), colour = accesses (log\n"
	"scale, legend beside it).  Or, with --chart, lines per VM over time.\n"
	"  -i, --input FILE  default kvmheat.data\n"
	"  -o, --output OUT  NAME.svg, NAME.png, or - for the terminal (default)\n"
	"  -p, --pid P       the VM to draw, pid or recorded name (default: most accesses)\n"
	"  -w, --writes      colour by writes instead (--metric writes)\n"
	"      --metric M    accesses (default), writes, or idle: each column the idle\n"
	"                    ages at its last scan (record --age-driver), linear scale\n"
	"      --rows N      address rows (default 256; terminal: its height)\n"
	"      --cols N      time columns (default 480; terminal: its width)\n"
	"      --time T0-T1  only epochs overlapping T0..T1 s\n"
	"      --gfn A-B     only gfns A..B\n"
	"      --axis A      address labels: gpa in MiB/GiB (default) or gfn\n"
	"      --color WHEN  terminal: auto (colour on a terminal), always or never\n"
	"                    (without colour: a character ramp)\n"
	"      --chart KIND  wss: working set per epoch; rates: accesses/s and\n"
	"                    writes/s; cold: idle memory (needs idle-age data)\n"
	"  -j, --json        with -o FILE: print what was drawn as JSON\n"
	"\n"
	"Examples:\n"
	"  kvmheat heatmap -i vm.data -o vm.svg\n"
	"  kvmheat heatmap --writes --time 0-30 -o writes.png\n";

static const char *kh_ext(const char *p)
{
	const char *d = strrchr(p, '.');

	return d ? d + 1 : "";
}

/* Rows and columns not given: the terminal's size, or the image defaults. */
static void kh_heatmap_size(struct kh_heatmap_args *a)
{
	if (a->term) {
		struct winsize ws;
		bool tty = isatty(STDOUT_FILENO) && !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws);

		if (!a->rows)
			a->rows = tty && ws.ws_row > 12 ? (ws.ws_row - 8) * 2u : 48;
		if (!a->cols)
			a->cols = tty && ws.ws_col > 30 ? ws.ws_col - 14u : 64;
	}
	if (!a->rows)
		a->rows = 256;
	if (!a->cols)
		a->cols = 480;
}

/*
 * KH_ARGS_OK with @a filled, or the exit code to return now (KH_EXIT_OK
 * after -h).
 */
static int kh_heatmap_parse(int argc, char **argv, struct kh_opts *o, struct kh_heatmap_args *a)
{
	static const struct option longopts[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "output", required_argument, NULL, 'o' },
		{ "pid", required_argument, NULL, 'p' },
		{ "writes", no_argument, NULL, 'w' },
		{ "metric", required_argument, NULL, 'M' },
		{ "rows", required_argument, NULL, 'R' },
		{ "cols", required_argument, NULL, 'C' },
		{ "time", required_argument, NULL, 't' },
		{ "gfn", required_argument, NULL, 'g' },
		{ "axis", required_argument, NULL, 'A' },
		{ "chart", required_argument, NULL, 'K' },
		{ "color", required_argument, NULL, KH_OPT_COLOR },
		KH_LONGOPTS_END,
	};
	struct kh_cmdline cl = {
		.cmd = "heatmap", .o = o, .help = kh_heatmap_help, .shortopts = "i:o:p:wjvh",
		.longopts = longopts, .pid = &a->f.pid, .color = &a->color,
		.pid_name = &a->pid_name,
	};
	uint64_t v;
	int opt;

	*a = (struct kh_heatmap_args){ .in = "kvmheat.data", .out = "-", .color = -1 };
	kh_rd_filter_init(&a->f);
	while ((opt = kh_getopt(&cl, argc, argv)) > 0) {
		switch (opt) {
		case 'i':
			a->in = optarg;
			break;
		case 'o':
			a->out = optarg;
			break;
		case 'w':
			a->writes = true;
			break;
		case 'M':
			a->writes = !strcmp(optarg, "writes");
			a->idle = !strcmp(optarg, "idle");
			if (!a->writes && !a->idle && strcmp(optarg, "accesses"))
				return kh_err(o, KH_EXIT_USAGE, "heatmap: bad --metric '%s' (accesses, "
					      "writes or idle)", optarg);
			break;
		case 'R':
		case 'C':
			if (kh_parse_u64(optarg, &v) || v < 2 || v > 4096)
				return kh_err(o, KH_EXIT_USAGE, "heatmap: bad --%s '%s' (2..4096)",
					      opt == 'R' ? "rows" : "cols", optarg);
			*(opt == 'R' ? &a->rows : &a->cols) = v;
			break;
		case 't':
			if (kh_parse_trange(optarg, &a->f.t0, &a->f.t1))
				return kh_err(o, KH_EXIT_USAGE, "heatmap: bad --time '%s'", optarg);
			a->f.time_set = true;
			break;
		case 'g':
			if (kh_parse_gfn_range(optarg, &a->f.gfn_lo, &a->f.gfn_hi))
				return kh_err(o, KH_EXIT_USAGE, "heatmap: bad --gfn '%s'", optarg);
			break;
		case 'A':
			if (strcmp(optarg, "gpa") && strcmp(optarg, "gfn"))
				return kh_err(o, KH_EXIT_USAGE, "heatmap: bad --axis '%s' (gpa or "
					      "gfn)", optarg);
			a->gfn_axis = !strcmp(optarg, "gfn");
			break;
		case 'K':
			if (kh_chart_kind_parse(optarg, &a->kind))
				return kh_err(o, KH_EXIT_USAGE, "heatmap: bad --chart '%s' (wss, "
					      "rates or cold)", optarg);
			a->chart = true;
			break;
		}
	}
	if (opt == KH_OPT_STOP)
		return cl.rc;
	a->term = !strcmp(a->out, "-");
	if (!a->term && strcmp(kh_ext(a->out), "svg") && strcmp(kh_ext(a->out), "png"))
		return kh_err(o, KH_EXIT_USAGE, "heatmap: -o wants NAME.svg, NAME.png or -");
	if (a->term && o->json)
		return kh_err(o, KH_EXIT_USAGE, "heatmap: -j needs -o NAME.svg or NAME.png");
	if (a->term && a->chart)
		return kh_err(o, KH_EXIT_USAGE, "heatmap: --chart needs -o NAME.svg or NAME.png");
	kh_heatmap_size(a);
	return KH_ARGS_OK;
}

/* Which VM to draw: the one asked for, else the one with most of the metric. */
static int kh_heatmap_vm(const struct kh_heatmap_args *a, struct kh_opts *o,
			 const struct kh_recording *rec, uint32_t *pid)
{
	const char *what = a->idle ? "idle ages" : a->writes ? "writes" : "accesses";
	const struct kh_rd_idle *last;
	char eb[128];
	int err = 0;

	*pid = a->f.pid;
	if (*pid)
		return KH_EXIT_OK;
	if (a->idle) {	/* the VM of the last scan in the selection */
		last = kh_rd_idle_last(rec, &a->f, 0);
		*pid = last ? last->pid : 0;
	} else {
		err = kh_hm_pick_vm(rec, &a->f, a->writes, pid);
	}
	if (err)
		return kh_err(o, KH_EXIT_ERROR, "heatmap: %s", kh_errstr(err, eb, sizeof(eb)));
	if (!*pid)
		return kh_err(o, KH_EXIT_ERROR, "heatmap: %s has no %s to draw%s", a->in, what,
			      a->idle ? " (record with --age-driver to get them)" : "");
	if (rec->nr_vms > 1)
		fprintf(stderr, "kvmheat: drawing VM %u, the one with %s %s (--pid picks "
			"another)\n", *pid, a->idle ? "the last" : "most", what);
	return KH_EXIT_OK;
}

static bool kh_is_svg(const char *path)
{
	return !strcmp(kh_ext(path), "svg");
}

/* Open -o, draw into it with @draw, close; -errno. */
static int kh_heatmap_file(const char *out, int (*draw)(const void *, FILE *, bool),
			   const void *what)
{
	FILE *fo = fopen(out, "wb");
	int err;

	if (!fo)
		return -errno;
	err = draw(what, fo, kh_is_svg(out));
	if (fclose(fo) && !err)
		err = -errno;
	if (err)
		unlink(out);	/* never leave a blank or half-written picture behind */
	return err;
}

struct kh_hm_draw_arg {
	const struct kh_hmap *h;
	const struct kh_rd_vm *vm;
};

static int kh_draw_hm(const void *p, FILE *f, bool svg)
{
	const struct kh_hm_draw_arg *d = p;

	return svg ? kh_hm_svg(d->h, d->vm, f, false) : kh_hm_png(d->h, d->vm, f);
}

static int kh_draw_chart(const void *p, FILE *f, bool svg)
{
	return svg ? kh_chart_svg(p, f, false) : kh_chart_png(p, f);
}

/* Write the image file and say what was written. */
static int kh_heatmap_write(const struct kh_heatmap_args *a, struct kh_opts *o,
			    const struct kh_hmap *h, const struct kh_rd_vm *vm)
{
	struct kh_hm_draw_arg d = { h, vm };
	char eb[128];
	int err = kh_heatmap_file(a->out, kh_draw_hm, &d);

	if (err)
		return kh_err(o, KH_EXIT_ERROR, "heatmap: writing %s: %s", a->out,
			      kh_errstr(err, eb, sizeof(eb)));
	if (o->json) {
		json_t *j = json_pack("{s:s, s:i, s:s, s:I, s:I, s:I, s:I, s:I}", "output", a->out,
				      "pid", (int)h->pid, "metric", kh_hm_metric_name(h),
				      "rows", (json_int_t)h->rows, "cols", (json_int_t)h->cols,
				      "gfn_lo", (json_int_t)kh_hm_gfn(h, h->lo),
				      "gfn_hi", (json_int_t)kh_hm_gfn(h, h->hi),
				      "max", (json_int_t)kh_hm_shown(h, h->max));

		kh_json_print(j, JSON_INDENT(1));
	} else {
		fprintf(stderr, "kvmheat: wrote %s: VM %u, %zu rows x %zu columns\n", a->out,
			h->pid, h->rows, h->cols);
	}
	return KH_EXIT_OK;
}

/* --chart: lines per VM over the recording, or why there is nothing to draw. */
static int kh_heatmap_chart(const struct kh_heatmap_args *a, struct kh_opts *o,
			    const struct kh_recording *rec)
{
	struct kh_chart c;
	char why[256], eb[128];
	int err, ret = KH_EXIT_OK;

	err = kh_chart_build(&c, rec, &a->f, a->kind, why, sizeof(why));
	if (err == -ENODATA)
		ret = kh_err(o, KH_EXIT_ERROR, "heatmap: --chart: nothing to draw from %s: %s",
			     a->in, why);
	else if (err || (err = kh_heatmap_file(a->out, kh_draw_chart, &c)))
		ret = kh_err(o, KH_EXIT_ERROR, "heatmap: writing %s: %s", a->out,
			     kh_errstr(err, eb, sizeof(eb)));
	else if (o->json)
		kh_json_print(json_pack("{s:s, s:I, s:I}", "output", a->out, "series",
					(json_int_t)c.ns, "points", (json_int_t)c.n), JSON_INDENT(1));
	else
		fprintf(stderr, "kvmheat: wrote %s: %zu lines of %zu points\n", a->out, c.ns, c.n);
	kh_chart_free(&c);
	return ret;
}

static int kh_heatmap_draw(const struct kh_heatmap_args *a, struct kh_opts *o,
			   const struct kh_recording *rec)
{
	struct kh_hmap h = { .writes = a->writes, .gfn_axis = a->gfn_axis };
	char eb[128];
	int err, ret;

	ret = kh_heatmap_vm(a, o, rec, &h.pid);
	if (ret)
		return ret;
	err = a->idle ? kh_hm_build_idle(&h, rec, &a->f, a->rows, a->cols)
		      : kh_hm_build(&h, rec, &a->f, a->rows, a->cols);
	if (err == -ENODATA)
		ret = kh_err(o, KH_EXIT_ERROR, "heatmap: VM %u has no %s in the selected part of %s%s",
			     h.pid, a->idle ? "idle ages" : h.writes ? "writes" : "accesses", a->in,
			     a->idle ? " (record with --age-driver to get them)" : "");
	else if (err)
		ret = kh_err(o, KH_EXIT_ERROR, "heatmap: %s", kh_errstr(err, eb, sizeof(eb)));
	else if (a->term)
		kh_hm_term(&h, kh_rd_find_vm((struct kh_recording *)rec, h.pid), stdout,
			   kh_color_wanted(a->color));
	else
		ret = kh_heatmap_write(a, o, &h, kh_rd_find_vm((struct kh_recording *)rec, h.pid));
	kh_hm_free(&h);
	return ret;
}

static int kh_heatmap_run(struct kh_heatmap_args *a, struct kh_opts *o)
{
	struct kh_recording rec;
	char why[512];
	int err, ret;

	if (!a->term && !kh_is_svg(a->out) && !kh_canvas_png_supported())
		return kh_err(o, KH_EXIT_ERROR, "heatmap: this kvmheat was built without cairo "
			      "(static build): no PNG output, use -o NAME.svg");
	err = kh_df_read_file(a->in, 0, &rec, why, sizeof(why));
	if (err)
		return kh_err(o, KH_EXIT_ERROR, "heatmap: %s: %s", a->in, why);
	for (size_t i = 0; i < rec.nr_notes; i++)
		fprintf(stderr, "kvmheat: note: %s: %s\n", a->in, rec.notes[i]);
	if (a->pid_name && kh_rd_pid_by_name(&rec, a->pid_name, &a->f.pid, why, sizeof(why))) {
		kh_rd_free(&rec);
		return kh_err(o, KH_EXIT_NO_VM, "heatmap: -p %s: %s in %s", a->pid_name, why,
			      a->in);
	}
	ret = a->chart ? kh_heatmap_chart(a, o, &rec) : kh_heatmap_draw(a, o, &rec);
	kh_rd_free(&rec);
	return ret;
}

int kh_cmd_heatmap(int argc, char **argv, struct kh_opts *o)
{
	struct kh_heatmap_args a;
	int ret = kh_heatmap_parse(argc, argv, o, &a);

	return ret != KH_ARGS_OK ? ret : kh_heatmap_run(&a, o);
}
