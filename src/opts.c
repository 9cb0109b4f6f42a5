// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The options several subcommands share (-p, -d, -e, -m, --color, -j, -v,
 * -h), parsed in one place so each means the same everywhere and a bad
 * value gets the same one-line error whichever command it was given to.
 * A command keeps its own letters in its own switch and hands the rest to
 * kh_opt_common() from its default case.
 */
#include <getopt.h>
#include <string.h>
#include <unistd.h>
#include "kh.h"

int kh_opt_common(const struct kh_common_opts *c, int opt, char **argv)
{
	const char *cmd = c->cmd;
	struct kh_opts *o = c->o;

	switch (opt) {
	case 'p':
		if (!c->pid)
			break;
		if (kh_parse_pid(optarg, c->pid))
			return kh_err(o, KH_EXIT_USAGE, "%s: bad pid '%s'", cmd, optarg);
		return KH_OPT_TAKEN;
	case 'd':
		if (!c->duration)
			break;
		if (kh_parse_seconds(optarg, c->duration))
			return kh_err(o, KH_EXIT_USAGE, "%s: bad duration '%s'", cmd, optarg);
		return KH_OPT_TAKEN;
	case 'e':
		if (!c->sources)
			break;
		if (kh_parse_sources(optarg, c->sources))
			return kh_err(o, KH_EXIT_USAGE, "%s: bad source list '%s' (want "
				      "aging,track,spp,walk)", cmd, optarg);
		return KH_OPT_TAKEN;
	case 'm':
		if (!c->force)
			break;
		if (kh_parse_force(optarg, c->force))
			return kh_err(o, KH_EXIT_USAGE, "%s: bad --method '%s' (want "
				      "SOURCE=METHOD)", cmd, optarg);
		return KH_OPT_TAKEN;
	case KH_OPT_COLOR:
		if (!c->color)
			break;
		if (!strcmp(optarg, "auto"))
			*c->color = -1;
		else if (!strcmp(optarg, "always"))
			*c->color = 1;
		else if (!strcmp(optarg, "never"))
			*c->color = 0;
		else
			return kh_err(o, KH_EXIT_USAGE, "%s: bad --color '%s' (auto, always or "
				      "never)", cmd, optarg);
		return KH_OPT_TAKEN;
	case 'j':
		o->json = true;
		return KH_OPT_TAKEN;
	case 'v':
		o->verbose++;
		return KH_OPT_TAKEN;
	case 'h':
		fputs(c->help, stdout);
		return KH_EXIT_OK;
	}
	return kh_bad_option(o, cmd, argv);
}

int kh_opt_no_operands(const struct kh_common_opts *c, int argc, char **argv)
{
	if (optind < argc)
		return kh_err(c->o, KH_EXIT_USAGE, "%s: unexpected argument '%s'", c->cmd,
			      argv[optind]);
	return 0;
}

bool kh_color_wanted(int when)
{
	return when > 0 || (when < 0 && isatty(STDOUT_FILENO));
}
