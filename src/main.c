// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* kvmheat: subcommand dispatch from one table. */
#include <string.h>
#include <unistd.h>
#include "cli.h"

struct kh_cmd {
	const char *name;
	int (*func)(int argc, char **argv, struct kh_opts *o);
	const char *help;
	bool needs_bpf;		/* loads BPF: check privileges first */
};

static int kh_cmd_help(int argc, char **argv, struct kh_opts *o);

static const struct kh_cmd kh_cmds[] = {
	{ "heat", kh_cmd_heat, "trace for a while, show hottest gfn ranges and a heat strip", true },
	{ "idle", kh_cmd_idle, "make the kernel age a VM's memory and print its idle ranges", true },
	{ "list", kh_cmd_list, "list running VMs with their memslots", true },
	{ "probe", kh_cmd_probe, "show the attach method chosen per event source, and why", true },
	{ "record", kh_cmd_record, "record heat epochs and events to a file", true },
	{ "report", kh_cmd_report, "report from a recording", false },
	{ "heatmap", kh_cmd_heatmap, "draw a recording as a time x address heatmap", false },
	{ "top", kh_cmd_top, "live per-VM view", true },
	{ "trace", kh_cmd_trace, "print events as they happen", true },
	{ "export", kh_cmd_export, "serve metrics to Prometheus, or write a textfile", true },
	{ "help", kh_cmd_help, "this text", false },
	{ "version", kh_cmd_version, "print the version, build and libbpf details", false },
};
#define KH_NR_CMDS (sizeof(kh_cmds) / sizeof(kh_cmds[0]))

static void kh_usage(FILE *f)
{
	fprintf(f, "Usage: kvmheat [-j] [-v] COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < KH_NR_CMDS; i++)
		fprintf(f, "  %-8s %s\n", kh_cmds[i].name, kh_cmds[i].help);
	fprintf(f, "\nGlobal options: -j JSON output, -v verbose (libbpf and probe logs).\n"
		   "`kvmheat COMMAND -h` shows a command's options.  Commands can be\n"
		   "abbreviated to any unique prefix.\n\n"
		   "Exit codes: 0 ok, 1 runtime error, 2 bad usage, 3 no such VM,\n"
		   "4 no event source can attach, 5 environment (privileges, BTF).\n");
	fprintf(f, "\nExamples:\n"
		   "  kvmheat probe\n"
		   "  kvmheat heat -d 10\n"
		   "  kvmheat record -p $(pidof qemu-system-x86_64) -d 60 -o vm.data\n");
}

static int kh_cmd_help(int argc, char **argv, struct kh_opts *o)
{
	kh_usage(stdout);
	return KH_EXIT_OK;
}

/* Exact match first, then a unique prefix, as bpftool does. */
static const struct kh_cmd *kh_cmd_find(const char *name, int *ambiguous)
{
	const struct kh_cmd *hit = NULL;

	*ambiguous = 0;
	for (size_t i = 0; i < KH_NR_CMDS; i++)
		if (!strcmp(kh_cmds[i].name, name))
			return &kh_cmds[i];
	for (size_t i = 0; i < KH_NR_CMDS; i++) {
		if (strncmp(kh_cmds[i].name, name, strlen(name)))
			continue;
		if (hit)
			*ambiguous = 1;
		hit = &kh_cmds[i];
	}
	return *ambiguous ? NULL : hit;
}

int main(int argc, char **argv)
{
	struct kh_opts o = {};
	const struct kh_cmd *cmd;
	int i = 1, amb;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")) {
			o.json = true;
		} else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			o.verbose++;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			kh_usage(stdout);
			return KH_EXIT_OK;
		} else if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
			return kh_cmd_version(0, NULL, &o);
		} else {
			return kh_err(&o, KH_EXIT_USAGE, "unknown option '%s' (see kvmheat help)",
				      argv[i]);
		}
	}
	if (i >= argc) {
		kh_usage(stderr);
		return KH_EXIT_USAGE;
	}
	cmd = kh_cmd_find(argv[i], &amb);
	if (!cmd)
		return kh_err(&o, KH_EXIT_USAGE, "%s command '%s' (see kvmheat help)",
			      amb ? "ambiguous" : "unknown", argv[i]);
	/* -h needs no privileges: let the command answer it */
	if (cmd->needs_bpf && !(i + 1 < argc && (!strcmp(argv[i + 1], "-h") ||
						 !strcmp(argv[i + 1], "--help")))) {
		char why[256];
		int err = kh_check_caps(why, sizeof(why));

		if (err)
			return kh_err(&o, kh_exit_code(err), "%s", why);
	}
	/* The subcommand sees argv starting at its own name, for getopt; its
	 * errors come from kh_bad_option(), one line, not from getopt itself. */
	optind = 1;
	opterr = 0;
	return cmd->func(argc - i, argv + i, &o);
}
