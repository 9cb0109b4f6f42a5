/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Command layer: what every command file (cmd_*.c) shares: option parsing
 * (cli.c) and starting a session with errors reported once; the commands'
 * entry points, dispatched from main.c.  Nothing below this layer includes it.
 */
#ifndef KH_CLI_H
#define KH_CLI_H

#include "kh.h"

#define KH_OPT_END	0	/* kh_getopt(): all parsed */
#define KH_OPT_STOP	(-1)	/* kh_getopt(): exit now with cl->rc */
#define KH_OPT_COLOR	0x200	/* --color (long only); commands' own start at 0x100 */
#define KH_OPT_AGE_DRIVER	0x201	/* --age-driver NAME|auto|none (long only) */
#define KH_OPT_SCAN_INTERVAL	0x202	/* --scan-interval S (long only) */
#define KH_OPT_WS_SCANS		0x203	/* --ws-scans N (long only) */
/* Active aging in live commands (scan.h): opt-in, a driver changes accessed bits. */
#define KH_LONGOPTS_AGING							\
	{ "age-driver", required_argument, NULL, KH_OPT_AGE_DRIVER },		\
	{ "scan-interval", required_argument, NULL, KH_OPT_SCAN_INTERVAL }
/* Where idle ages are shown: the working set is the pages young within N scans. */
#define KH_LONGOPT_WS_SCANS							\
	{ "ws-scans", required_argument, NULL, KH_OPT_WS_SCANS }
/* --json, --verbose, --help and the terminator: every command's table ends so. */
#define KH_LONGOPTS_END								\
	{ "json", no_argument, NULL, 'j' }, { "verbose", no_argument, NULL, 'v' },	\
	{ "help", no_argument, NULL, 'h' }, {}
/* -e/--sources everywhere; --events LIST stays an alias where it was one (heat, top, trace). */
#define KH_LONGOPT_SOURCES							\
	{ "sources", required_argument, NULL, 'e' }
#define KH_LONGOPT_EVENTS_ALIAS							\
	{ "events", required_argument, NULL, 'e' }
struct option;
/*
 * A command's options.  A shared one is parsed by kh_getopt() into where
 * its pointer says; with a NULL pointer, or listed in @own, the letter is
 * the command's to parse (top's -d is a delay, record's -p a list).
 */
struct kh_cmdline {
	const char *cmd;		/* names the command in messages */
	struct kh_opts *o;		/* -j, -v; errors */
	const char *help;		/* -h prints it */
	const char *shortopts;		/* for getopt_long */
	const struct option *longopts;
	const char *own;		/* -j, -v or -h letters the command parses itself */
	bool operands;			/* it takes operands (record's COMMAND) */
	uint32_t *pid;			/* -p PID or -p NAME of a running VM */
	const char **pid_name;		/* set: a -p NAME is left here for the command */
	double *duration;		/* -d SECONDS */
	uint32_t *sources;		/* -e LIST */
	enum kh_method *force;		/* -m SOURCE=METHOD, KH_SRC_MAX entries */
	int *color;			/* --color WHEN: -1 auto, 0 never, 1 always */
	struct kh_scan *scan;		/* --age-driver, --scan-interval into want, interval */
	unsigned int *ws_scans;		/* --ws-scans N (1..KH_IDLE_MAX) */
	int rc;				/* after KH_OPT_STOP: the exit code */
};
/* The next option the command parses itself, KH_OPT_END or KH_OPT_STOP. */
int kh_getopt(struct kh_cmdline *cl, int argc, char **argv);
/* getopt_long returned '?': one line naming the bad option; KH_EXIT_USAGE. */
int kh_bad_option(const struct kh_opts *o, const char *cmd, char **argv);
/*
 * Start active aging for a session's VMs (after kh_cli_start): notes go
 * through kh_warn; a forced driver that refuses is an error (exit code).
 */
/*
 * After kh_cli_start (with so.idle_bits), before kh_cli_scan_start: VMs
 * with a driver get idle bits of their own (kh_session_bits_map) and keep
 * their aging results there instead of in hash entries.
 */
void kh_cli_scan_bits(struct kh_scan *sc, struct kh_session *s, const char *cmd,
		      const struct kh_opts *o);
int kh_cli_scan_start(struct kh_scan *sc, const struct kh_vmset *vms, const char *cmd,
		      const struct kh_opts *o);
/* --color WHEN: auto means only when stdout is a terminal. */
bool kh_color_wanted(int when);

/* Sessions for commands: KH_EXIT_OK or the exit code of the reported error. */
int kh_cli_open(struct kh_session *s, const struct kh_session_opts *so, const struct kh_opts *o);
int kh_cli_attach(struct kh_session *s, const struct kh_opts *o);
int kh_cli_start(struct kh_session *s, const struct kh_session_opts *so, const struct kh_opts *o);
/* 0 or -errno, warned about: the caller keeps its last VM list. */
int kh_cli_refresh(struct kh_session *s, const struct kh_opts *o);

/* The commands, one file each (cmd_<name>.c): parse into args, then run. */
int kh_cmd_heat(int argc, char **argv, struct kh_opts *o);
int kh_cmd_list(int argc, char **argv, struct kh_opts *o);
int kh_cmd_probe(int argc, char **argv, struct kh_opts *o);
int kh_cmd_record(int argc, char **argv, struct kh_opts *o);
int kh_cmd_report(int argc, char **argv, struct kh_opts *o);
int kh_cmd_heatmap(int argc, char **argv, struct kh_opts *o);
int kh_cmd_top(int argc, char **argv, struct kh_opts *o);
int kh_cmd_trace(int argc, char **argv, struct kh_opts *o);
int kh_cmd_export(int argc, char **argv, struct kh_opts *o);
int kh_cmd_idle(int argc, char **argv, struct kh_opts *o);
/* argc 0 (from `kvmheat -V`) parses nothing */
int kh_cmd_version(int argc, char **argv, struct kh_opts *o);

#endif /* KH_CLI_H */
