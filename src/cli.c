// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The command layer's shared part.  Command lines: getopt_long for every
 * subcommand, with the options several of them share (-p, -d, -e, -m,
 * --color, -j, -v, -h) parsed in one place, so each means the same
 * everywhere, a bad value gets the same one-line error whichever command
 * it was given to, and an unknown option or a stray operand is named the
 * same way by all.  Sessions: opened, attached and refreshed for a command
 * with the library's -errno and reason reported once, with its exit code.
 */
#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cli.h"
#include "kvmheat.skel.h"

/* kh_opt_shared(): parsed, go on; the command's own letter; else an exit code. */
#define KH_OPT_PARSED	(-2)
#define KH_OPT_OWN	(-3)

/* getopt_long returned '?': name the option that was wrong, in one line. */
int kh_bad_option(const struct kh_opts *o, const char *cmd, char **argv)
{
	const char *bad = optind > 0 ? argv[optind - 1] : "?";

	return kh_err(o, KH_EXIT_USAGE, "%s: unknown option or missing value: '%s' "
		      "(see kvmheat %s -h)", cmd, bad, cmd);
}

/* The active-aging options: --age-driver, --scan-interval, --ws-scans. */
static int kh_opt_aging(const struct kh_cmdline *cl, int opt)
{
	const char *cmd = cl->cmd;
	uint64_t v;

	switch (opt) {
	case KH_OPT_AGE_DRIVER:
		if (!cl->scan)
			return KH_OPT_OWN;
		if (!strcmp(optarg, "auto"))
			cl->scan->want = KH_SCAN_AUTO;
		else if (!strcmp(optarg, "none"))
			cl->scan->want = KH_SCAN_NONE;
		else if (kh_agedrv_parse(optarg, &cl->scan->want))
			return kh_err(cl->o, KH_EXIT_USAGE, "%s: unknown --age-driver '%s' (auto, "
				      "page_idle, mglru, damon or none)", cmd, optarg);
		return KH_OPT_PARSED;
	case KH_OPT_SCAN_INTERVAL:
		if (!cl->scan)
			return KH_OPT_OWN;
		if (kh_parse_seconds(optarg, &cl->scan->interval) || cl->scan->interval < 0 ||
		    cl->scan->interval > 86400)
			return kh_err(cl->o, KH_EXIT_USAGE, "%s: bad --scan-interval '%s' (0 to 86400 "
				      "seconds)", cmd, optarg);
		return KH_OPT_PARSED;
	case KH_OPT_WS_SCANS:
		if (!cl->ws_scans)
			return KH_OPT_OWN;
		if (kh_parse_u64(optarg, &v) || !v || v > KH_IDLE_MAX)
			return kh_err(cl->o, KH_EXIT_USAGE, "%s: bad --ws-scans '%s' (1 to %d scans)",
				      cmd, optarg, KH_IDLE_MAX);
		*cl->ws_scans = (unsigned int)v;
		return KH_OPT_PARSED;
	}
	return KH_OPT_OWN;
}

static int kh_opt_shared(const struct kh_cmdline *cl, int opt, char **argv)
{
	const char *cmd = cl->cmd;
	struct kh_opts *o = cl->o;

	if (opt > 0 && opt < 256 && cl->own && strchr(cl->own, opt))
		return KH_OPT_OWN;
	if (opt >= KH_OPT_AGE_DRIVER && opt <= KH_OPT_WS_SCANS)
		return kh_opt_aging(cl, opt);
	switch (opt) {
	case '?':
		return kh_bad_option(o, cmd, argv);
	case 'p':
		if (!cl->pid)
			return KH_OPT_OWN;
		if (!kh_parse_pid(optarg, cl->pid))
			return KH_OPT_PARSED;
		if (cl->pid_name && kh_name_arg_ok(optarg)) {
			*cl->pid_name = optarg;	/* a recorded VM's name: the command knows */
			return KH_OPT_PARSED;
		}
		{
			char why[256];
			int err = kh_resolve_vm(optarg, cl->pid, why, sizeof(why));

			if (err == -EINVAL)
				return kh_err(o, KH_EXIT_USAGE, "%s: bad pid '%s'", cmd, optarg);
			if (err)
				return kh_err(o, err == -EPERM ? KH_EXIT_ENV : err == -ENOENT ||
					      err == -EEXIST ? KH_EXIT_NO_VM : KH_EXIT_ERROR,
					      "%s: -p %s: %s", cmd, optarg, why);
		}
		return KH_OPT_PARSED;
	case 'd':
		if (!cl->duration)
			return KH_OPT_OWN;
		if (kh_parse_seconds(optarg, cl->duration))
			return kh_err(o, KH_EXIT_USAGE, "%s: bad duration '%s'", cmd, optarg);
		return KH_OPT_PARSED;
	case 'e':
		if (!cl->sources)
			return KH_OPT_OWN;
		if (kh_parse_sources(optarg, cl->sources))
			return kh_err(o, KH_EXIT_USAGE, "%s: bad source list '%s' (want "
				      "aging,track,spp,walk)", cmd, optarg);
		return KH_OPT_PARSED;
	case 'm':
		if (!cl->force)
			return KH_OPT_OWN;
		if (kh_parse_force(optarg, cl->force))
			return kh_err(o, KH_EXIT_USAGE, "%s: bad --method '%s' (want "
				      "SOURCE=METHOD)", cmd, optarg);
		return KH_OPT_PARSED;
	case KH_OPT_COLOR:
		if (!cl->color)
			return KH_OPT_OWN;
		if (!strcmp(optarg, "auto"))
			*cl->color = -1;
		else if (!strcmp(optarg, "always"))
			*cl->color = 1;
		else if (!strcmp(optarg, "never"))
			*cl->color = 0;
		else
			return kh_err(o, KH_EXIT_USAGE, "%s: bad --color '%s' (auto, always or "
				      "never)", cmd, optarg);
		return KH_OPT_PARSED;
	case 'j':
		o->json = true;
		return KH_OPT_PARSED;
	case 'v':
		o->verbose++;
		return KH_OPT_PARSED;
	case 'h':
		fputs(cl->help, stdout);
		return KH_EXIT_OK;
	}
	return KH_OPT_OWN;
}

int kh_getopt(struct kh_cmdline *cl, int argc, char **argv)
{
	int opt;

	while ((opt = getopt_long(argc, argv, cl->shortopts, cl->longopts, NULL)) != -1) {
		int rc = kh_opt_shared(cl, opt, argv);

		if (rc == KH_OPT_OWN)
			return opt;
		if (rc != KH_OPT_PARSED) {
			cl->rc = rc;
			return KH_OPT_STOP;
		}
	}
	if (!cl->operands && optind < argc) {
		cl->rc = kh_err(cl->o, KH_EXIT_USAGE, "%s: unexpected argument '%s'", cl->cmd,
				argv[optind]);
		return KH_OPT_STOP;
	}
	return KH_OPT_END;
}

bool kh_color_wanted(int when)
{
	return when > 0 || (when < 0 && isatty(STDOUT_FILENO));
}

/* Warn once per requested source that probing found no hook for. */
static void kh_cli_warn_sources(const struct kh_session *s, const struct kh_opts *o)
{
	if (!s->probe.hooks)
		return;		/* probing never ran */
	for (int src = 0; src < KH_SRC_MAX; src++)
		if ((s->opts.sources & (1U << src)) && !kh_source_available(&s->probe, src))
			kh_warn(o, "source %s is unavailable on this kernel (see kvmheat probe)",
				kh_source_name(src));
}

int kh_cli_open(struct kh_session *s, const struct kh_session_opts *so, const struct kh_opts *o)
{
	char why[512];
	int err = kh_session_open(s, so, o, why, sizeof(why));

	kh_cli_warn_sources(s, o);
	return err ? kh_err(o, kh_exit_code(err), "%s", why) : KH_EXIT_OK;
}

int kh_cli_attach(struct kh_session *s, const struct kh_opts *o)
{
	char why[256];
	int err = kh_session_attach(s, why, sizeof(why));

	/* an attach failure is a runtime error, whatever its errno */
	return err ? kh_err(o, KH_EXIT_ERROR, "%s", why) : KH_EXIT_OK;
}

int kh_cli_start(struct kh_session *s, const struct kh_session_opts *so, const struct kh_opts *o)
{
	int err = kh_cli_open(s, so, o);

	return err ? err : kh_cli_attach(s, o);
}

int kh_cli_refresh(struct kh_session *s, const struct kh_opts *o)
{
	char why[256];
	int err = kh_session_refresh(s, why, sizeof(why));

	if (err)
		kh_warn(o, "VM rediscovery failed: %s", why);
	return err;
}

static void kh_cli_scan_note(void *ctx, const char *msg)
{
	kh_warn(ctx, "%s", msg);
}

/* Descriptor @i of the idle bits into BPF, then the count that publishes it. */
static int kh_cli_bits_publish(void *ctx, uint32_t i, const struct kh_idle_slot_desc *d,
			       uint32_t nr)
{
	struct kh_session *s = ctx;

	if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.idle_slots), &i, d, BPF_ANY))
		return -errno;
	s->skel->bss->nr_idle_slots = nr;
	return 0;
}

static int kh_cli_bits_map(void *ctx, uint32_t i, uint64_t nwords, struct kh_idle_map *m)
{
	return kh_session_bits_map(ctx, i, nwords, m);
}

static void kh_cli_bits_unmap(void *ctx, uint32_t i, struct kh_idle_map *m)
{
	kh_session_bits_unmap(ctx, i, m);
}

void kh_cli_scan_bits(struct kh_scan *sc, struct kh_session *s, const char *cmd,
		      const struct kh_opts *o)
{
	if (!kh_scan_on(sc) || !s->opts.idle_bits)
		return;
	if (!s->bits_on) {
		kh_warn(o, "%s: this kernel makes no idle bits arrays (BPF_F_INNER_MAP, Linux "
			"5.10): aging results take per-gfn hash entries", cmd);
		return;
	}
	sc->bits = (struct kh_scan_bits){ .on = true, .publish = kh_cli_bits_publish,
					  .map = kh_cli_bits_map, .unmap = kh_cli_bits_unmap,
					  .ctx = s };
}

int kh_cli_scan_start(struct kh_scan *sc, const struct kh_vmset *vms, const char *cmd,
		      const struct kh_opts *o)
{
	char why[1400];
	int err;

	if (!kh_scan_on(sc))
		return KH_EXIT_OK;
	if (!sc->note) {
		sc->note = kh_cli_scan_note;
		sc->note_ctx = (void *)o;
	}
	err = kh_scan_start(sc, why, sizeof(why));
	if (err > 0) {
		sc->note(sc->note_ctx, why);	/* the command carries on passively */
		return KH_EXIT_OK;
	}
	if (!err)
		err = kh_scan_sync(sc, vms, why, sizeof(why));
	if (err == -ENOMEM)
		return kh_err(o, KH_EXIT_ERROR, "%s: out of memory", cmd);
	if (err)
		return kh_err(o, err == -ENODEV ? KH_EXIT_NO_SOURCE : KH_EXIT_ERROR, "%s: %s", cmd,
			      why);
	return KH_EXIT_OK;
}
