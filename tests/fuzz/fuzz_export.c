// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: what `kvmheat export` takes from outside.  First byte
 * even: the rest is a scraper's Accept header.  Odd: the rest is a VM's
 * label text (domain, then comm after the first NUL), rendered in both
 * formats; escaping must never add or remove a line, so the rendering has
 * exactly as many lines as one with plain labels.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "export.h"

static size_t lines_of(const struct kh_exp_snap *s, enum kh_exp_fmt fmt)
{
	char *out;
	size_t len, n = 0;

	if (kh_exp_render(s, fmt, &out, &len))
		abort();
	for (size_t i = 0; i < len; i++)
		n += out[i] == '\n';
	if (strlen(out) != len)
		abort();	/* a NUL inside the exposition */
	free(out);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kh_exp_vm vm = { .pid = 1 };
	struct kh_exp_snap s = { .n = 1, .vms = &vm };
	char *str;

	if (!size)
		return 0;
	str = calloc(1, size);
	if (!str)
		return 0;
	memcpy(str, data + 1, size - 1);
	if (!(data[0] & 1)) {
		kh_exp_negotiate(str);
		free(str);
		return 0;
	}
	for (int src = 0; src < KH_SRC_MAX; src++)
		s.src[src].requested = true;
	for (int f = 0; f < 2; f++) {
		size_t plain, fuzzed;

		snprintf(vm.domain, sizeof(vm.domain), "x");
		snprintf(vm.comm, sizeof(vm.comm), "x");
		plain = lines_of(&s, f);
		snprintf(vm.domain, sizeof(vm.domain), "%s", str);
		snprintf(vm.comm, sizeof(vm.comm), "%s", str + strlen(str) + (strlen(str) < size - 1));
		fuzzed = lines_of(&s, f);
		if (plain != fuzzed)
			abort();
	}
	free(str);
	return 0;
}
