// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `kvmheat heatmap`: placeholder until it lands. */
#include "kh.h"

int kh_cmd_heatmap(int argc, char **argv, struct kh_opts *o)
{
	return kh_err(o, KH_EXIT_USAGE, "'heatmap' is not implemented in kvmheat %s yet", KH_VERSION);
}
