// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Names of attach methods, event sources and counters, and their lists. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "base.h"

static const char *const method_names[KH_M_MAX] = {
	[KH_M_AUTO] = "auto",
	[KH_M_FENTRY] = "fentry", [KH_M_FEXIT] = "fexit", [KH_M_KPROBE] = "kprobe",
	[KH_M_TP_BTF] = "tp_btf", [KH_M_RAW_TP] = "raw_tp", [KH_M_TRACEPOINT] = "tracepoint",
};

static const char *const source_names[KH_SRC_MAX] = {
	[KH_SRC_AGING] = "aging", [KH_SRC_TRACK] = "track",
	[KH_SRC_SPP] = "spp", [KH_SRC_WALK] = "walk",
};

const char *kh_method_name(enum kh_method m)
{
	return m < KH_M_MAX ? method_names[m] : "?";
}

int kh_method_parse(const char *s, enum kh_method *m)
{
	/* "auto" is the absence of a choice, not one a user can force */
	for (int i = KH_M_FIRST; i < KH_M_MAX; i++) {
		if (!strcmp(s, method_names[i])) {
			*m = i;
			return 0;
		}
	}
	/* fentry and fexit are one trampoline method to a user. */
	if (!strcmp(s, "trampoline")) {
		*m = KH_M_FENTRY;
		return 0;
	}
	return -EINVAL;
}

const char *kh_source_name(enum kh_source s)
{
	return s < KH_SRC_MAX ? source_names[s] : "?";
}

int kh_source_parse(const char *s, enum kh_source *src)
{
	for (int i = 0; i < KH_SRC_MAX; i++) {
		if (!strcmp(s, source_names[i])) {
			*src = i;
			return 0;
		}
	}
	return -EINVAL;
}

static const char *const kh_stat_names[KH_STAT_MAX] = {
	[KH_STAT_EVENTS] = "events", [KH_STAT_COUNTED] = "counted",
	[KH_STAT_FILTERED] = "filtered", [KH_STAT_NO_VM] = "no_vm",
	[KH_STAT_MAP_FULL] = "map_full", [KH_STAT_TRUNCATED] = "truncated",
	[KH_STAT_WALK_LOST] = "walk_lost", [KH_STAT_NO_GFN] = "no_gfn",
	[KH_STAT_EMITTED] = "emitted", [KH_STAT_LOST] = "lost",
	[KH_STAT_EV_FILTERED] = "event_filtered",
};

const char *kh_stat_name(int stat)
{
	return stat >= 0 && stat < KH_STAT_MAX && kh_stat_names[stat] ? kh_stat_names[stat] : "?";
}

int kh_parse_sources(const char *s, uint32_t *mask)
{
	char *dup = strdup(s), *tok, *save = NULL;
	int err = 0;

	if (!dup)
		return -ENOMEM;
	*mask = 0;
	for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		enum kh_source src;

		if (kh_source_parse(tok, &src)) {
			err = -EINVAL;
			break;
		}
		*mask |= 1U << src;
	}
	free(dup);
	return err ? err : (*mask ? 0 : -EINVAL);
}

int kh_parse_force(const char *s, enum kh_method force[KH_SRC_MAX])
{
	char buf[64], *eq;
	enum kh_source src;
	enum kh_method m;

	snprintf(buf, sizeof(buf), "%s", s);
	eq = strchr(buf, '=');
	if (!eq)
		return -EINVAL;
	*eq = 0;
	if (kh_source_parse(buf, &src) || kh_method_parse(eq + 1, &m))
		return -EINVAL;
	force[src] = m;
	return 0;
}
