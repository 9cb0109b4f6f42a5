// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Map memory per GiB of tracked guest memory: create kvmheat's maps at the
 * sizes kvmheat would pick for 1..1024 GiB guests and print what the
 * kernel accounts for each (the fdinfo "memlock" figure bpftool shows).
 * A measurement, not a test: it prints figures and asserts nothing.
 */
#include <stdio.h>
#include <bpf/libbpf.h>
#include "kh.h"
#include "kvmheat.skel.h"

int main(void)
{
	static const unsigned int gibs[] = { 1, 4, 16, 64, 256, 1024 };

	libbpf_set_print(NULL);
	printf("| guest memory | gfns | regions | subpages | gfns bytes | regions bytes | "
	       "subpages bytes | all maps | per GiB |\n|---|---|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < sizeof(gibs) / sizeof(gibs[0]); i++) {
		uint64_t pages = (uint64_t)gibs[i] << (30 - KH_PAGE_SHIFT), ge, re, se, total = 0;
		struct kvmheat_bpf *skel = kvmheat_bpf__open();
		struct bpf_program *prog;
		struct bpf_map *map;
		char b[6][32];

		if (!skel)
			return 1;
		bpf_object__for_each_program(prog, skel->obj)
			bpf_program__set_autoload(prog, false);
		kh_map_sizes(pages, 0, &ge, &re, &se);
		bpf_map__set_max_entries(skel->maps.gfns, ge);
		bpf_map__set_max_entries(skel->maps.regions, re);
		bpf_map__set_max_entries(skel->maps.subpages, se);
		if (kvmheat_bpf__load(skel)) {
			fprintf(stderr, "mapmem: loading maps failed (root?)\n");
			return 1;
		}
		bpf_object__for_each_map(map, skel->obj)
			total += kh_fd_memlock(bpf_map__fd(map));
		printf("| %u GiB | %llu | %llu | %llu | %s | %s | %s | %s | %s |\n", gibs[i],
		       (unsigned long long)ge, (unsigned long long)re, (unsigned long long)se,
		       kh_fmt_bytes(kh_fd_memlock(bpf_map__fd(skel->maps.gfns)), b[0], 32),
		       kh_fmt_bytes(kh_fd_memlock(bpf_map__fd(skel->maps.regions)), b[1], 32),
		       kh_fmt_bytes(kh_fd_memlock(bpf_map__fd(skel->maps.subpages)), b[2], 32),
		       kh_fmt_bytes(total, b[3], 32), kh_fmt_bytes(total / gibs[i], b[4], 32));
		kvmheat_bpf__destroy(skel);
	}
	return 0;
}
