// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Map memory per GiB of tracked guest memory: create kvmheat's maps at the
 * sizes kvmheat would pick for 1..1024 GiB guests and print what the
 * kernel accounts for each (the fdinfo "memlock" figure bpftool shows).
 * A measurement, not a test: it prints figures and asserts nothing.
 * --aging: top/export's aging results in hash entries against idle states,
 * and all of `kvmheat idle`'s maps.
 */
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "kh.h"
#include "kvmheat.skel.h"

/* Kernel-accounted bytes of the maps loaded at these sizes (0: failed). */
static uint64_t kh_mm_load(uint64_t ge, uint64_t re, uint64_t se, uint64_t bits, uint64_t *bits_b,
			   uint64_t *gfns_b)
{
	struct kvmheat_bpf *skel = kvmheat_bpf__open();
	struct bpf_program *prog;
	struct bpf_map *map;
	uint64_t total = 0;

	if (!skel)
		return 0;
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, false);
	bpf_map__set_max_entries(skel->maps.gfns, ge);
	bpf_map__set_max_entries(skel->maps.regions, re);
	bpf_map__set_max_entries(skel->maps.subpages, se);
	if (!kvmheat_bpf__load(skel)) {
		struct kh_session s = { .skel = skel, .bits_on = true };
		struct kh_idle_map m = { .fd = -1 };

		bpf_object__for_each_map(map, skel->obj)
			total += kh_fd_memlock(bpf_map__fd(map));
		*gfns_b = kh_fd_memlock(bpf_map__fd(skel->maps.gfns));
		/* the VM's own array, as top/export make it when its driver opens */
		*bits_b = 0;
		if (bits && !kh_session_bits_map(&s, 0, bits, &m)) {
			*bits_b = kh_fd_memlock(m.fd);
			total += *bits_b;
			kh_session_bits_unmap(&s, 0, &m);
		} else if (bits) {
			total = 0;
		}
	}
	kvmheat_bpf__destroy(skel);
	return total;
}

/*
 * A one-slot VM of @gib GiB laid out as idle, top and export lay it out:
 * its states array's words, and the hash sizes `idle` gives it.
 */
static int kh_mm_plan(unsigned int gib, uint64_t *words, uint64_t *ge, uint64_t *re,
		      uint64_t *se)
{
	struct kh_slot slot = { .base_gfn = 0, .npages = (uint64_t)gib << (30 - KH_PAGE_SHIFT) };
	struct kh_vm vm = { .pid = 1, .nr_slots = 1, .slots = &slot };
	struct kh_idle_slot_desc d[KH_IDLE_SLOTS];
	struct kh_idle st;
	size_t nd;

	if (kh_idle_init(&st, &vm))
		return -1;
	*words = kh_idle_bits_layout(&st, d, &nd);
	kh_idle_hash_sizes(&st, ge, re, se);
	kh_idle_free(&st);
	return 0;
}

/*
 * --aging: what aging results cost top/export under a driver, side by side.
 * Hash: before the idle bits, a per-page result needed a gfn entry per
 * aged page (all pages plus a quarter, as `idle` sized it before its bits;
 * at today's 4096 per GiB a sweep stops making entries at 7/8 full and the
 * rest of the VM gets no per-page age).  Bits: the array top/export make
 * for the VM (kh_idle_bits_layout's words), kernel-accounted.
 */
static int kh_mm_aging(void)
{
	static const unsigned int gibs[] = { 1, 4, 16 };
	char b[8][32];

	printf("| guest memory | top/export maps (as heat) | + per-page aging in hash | "
	       "aging hash per GiB | + idle states | idle states per GiB | states words |\n"
	       "|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < sizeof(gibs) / sizeof(gibs[0]); i++) {
		uint64_t pages = (uint64_t)gibs[i] << (30 - KH_PAGE_SHIFT), ge, re, se, bb, gb, gb0;
		uint64_t words, base, hash, bits;

		if (kh_mm_plan(gibs[i], &words, &ge, &re, &se))
			return 1;
		kh_map_sizes(pages, 0, &ge, &re, &se);	/* top/export: heat's sizes */
		base = kh_mm_load(ge, re, se, 0, &bb, &gb0);
		hash = kh_mm_load(pages + pages / 4, re, se, 0, &bb, &gb);
		bits = kh_mm_load(ge, re, se, words, &bb, &gb);
		if (!base || !hash || !bits) {
			fprintf(stderr, "mapmem: loading maps failed (root?)\n");
			return 1;
		}
		printf("| %u GiB | %s | %s | %s | %s | %s | %llu |\n", gibs[i],
		       kh_fmt_bytes(base, b[0], 32), kh_fmt_bytes(hash, b[1], 32),
		       kh_fmt_bytes((hash - base) / gibs[i], b[2], 32), kh_fmt_bytes(bits, b[3], 32),
		       kh_fmt_bytes(bb / gibs[i], b[4], 32), (unsigned long long)words);
	}
	return 0;
}

/*
 * All of `kvmheat idle`'s maps for one VM of each size, as it sizes them
 * (kh_idle_hash_sizes: hash floors, its states array at its size), and
 * what each size adds per GiB over the one before: the fixed part is the
 * floors, the growth the states.
 */
static int kh_mm_idle(void)
{
	static const unsigned int gibs[] = { 1, 4, 16, 64, 256 };
	uint64_t prev = 0;
	char b[4][32];

	printf("\n| guest memory | `idle` all maps | its states array | added per GiB over "
	       "the row before |\n|---|---|---|---|\n");
	for (size_t i = 0; i < sizeof(gibs) / sizeof(gibs[0]); i++) {
		uint64_t ge, re, se, bb, gb, words, all;

		if (kh_mm_plan(gibs[i], &words, &ge, &re, &se))
			return 1;
		all = kh_mm_load(ge, re, se, words, &bb, &gb);
		if (!all) {
			fprintf(stderr, "mapmem: loading maps failed (root?)\n");
			return 1;
		}
		if (i)
			kh_fmt_bytes((all - prev) / (gibs[i] - gibs[i - 1]), b[2], 32);
		printf("| %u GiB | %s | %s | %s |\n", gibs[i], kh_fmt_bytes(all, b[0], 32),
		       kh_fmt_bytes(bb, b[1], 32), i ? b[2] : "-");
		prev = all;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const unsigned int gibs[] = { 1, 4, 16, 64, 256, 1024 };

	libbpf_set_print(NULL);
	if (argc > 1 && !strcmp(argv[1], "--aging"))
		return kh_mm_aging() || kh_mm_idle();
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
