// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: every parser of command-line input (numbers, pids,
 * durations, sizes, --gfn and --time ranges, source lists, --method), and the
 * VM-discovery record parser, which reads what the kernel iterator wrote.
 * The first byte picks the parser; the rest is its input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kh.h"
#include "datafile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum kh_method force[KH_SRC_MAX];
	struct kh_vmset set = {};
	char *s, why[256];
	uint64_t u, lo, hi;
	uint32_t p;
	double d, t0, t1;

	if (!size)
		return 0;
	if (data[0] % 10 == 9) {
		if (!kh_vms_parse(data + 1, size - 1, &set, why, sizeof(why)))
			for (size_t i = 0; i < set.n; i++)
				kh_vm_slot_of(&set.vms[i], kh_vm_pages(&set.vms[i]));
		kh_vms_free(&set);
		return 0;
	}
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = 0;
	switch (data[0] % 10) {
	case 0: kh_parse_u64(s, &u); break;
	case 1: kh_parse_pid(s, &p); break;
	case 2: kh_parse_seconds(s, &d); break;
	case 3: kh_parse_gfn_range(s, &lo, &hi); break;
	case 4: kh_parse_trange(s, &t0, &t1); break;
	case 5: kh_parse_sources(s, &p); break;
	case 6: kh_parse_force(s, force); break;
	case 7: kh_method_parse(s, &force[0]); kh_source_parse(s, (enum kh_source *)&p); break;
	case 8: kh_parse_size(s, &u); break;
	}
	free(s);
	return 0;
}
