// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * khl2: the workload of the rig's real-guest stage (docs/VMTEST.md), run as
 * root inside the L2 Linux guest that QEMU runs in the L1 rig kernel.  It
 * touches a buffer in a known pattern and prints its truth, as guest frame
 * numbers read from /proc/self/pagemap, on stdout (the serial console):
 *
 *   KHL2 ready pages=N hot=H stride=S passes=P
 *   KHL2 map INDEX GFN LEN        (hex: pages INDEX.. sit at GFN.., LEN long;
 *                                  -LEN: at GFN, GFN-1, ...)
 *   KHL2 truth pages=N hot=H stride=S runs=R missing=M
 *   KHL2 pass K                   (hot set touched K times; waits for "next")
 *   KHL2 moved M                  (pages whose gfn changed by the end)
 *   KHL2 pt addr=A pmd_index=I cycles=C writes=W   (page-table run)
 *   KHL2 pgtables GFN...          (hex: /proc/kpageflags PGTABLE pages)
 *   KHL2 done
 *
 * Pattern: every page is written once at first touch (a read of untouched
 * anonymous memory would map the shared zero page, one gfn for all).  The
 * hot set is every S-th page; on each pass a quarter of it (k % 4 == 0) is
 * written, the rest read, at byte offset (k * 264) % 4096 rounded to 8.
 * The cold set (every other page) is never touched again.  The host side
 * (L1) drives the phases through stdin lines: "go", then "next" after each
 * reclaim pass, then "pt" for the page-table run.
 *
 * Page-table run: C times mmap a 2 MiB-aligned 4 KiB page at A, touch it,
 * munmap it.  An anchor page in the 2 MiB just below keeps the page-middle
 * directory alive, so each cycle writes exactly its entry at byte
 * 8 * pmd_index of that directory page twice (populate, then clear when
 * the page table is freed): W = 2 C writes.  Under shadow paging KVM
 * write-protects that page and emulates each write, which kvmheat's
 * page-track source sees.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#define PAGE		4096UL
#define PM_PRESENT	(1ULL << 63)
#define PM_PFN_MASK	((1ULL << 55) - 1)
#define KPF_PGTABLE	26		/* include/uapi/linux/kernel-page-flags.h */
#define PT_BASE		0x7e0000000000UL	/* far from the stack and mmap base */
#define PT_INDEX	0x1a3UL		/* PMD index: entry at byte 0xd18 */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Block until the host side sends a line starting with @word. */
static int wait_for(const char *word)
{
	char line[128];

	while (fgets(line, sizeof(line), stdin))
		if (!strncmp(line, word, strlen(word)))
			return 0;
	return -1;
}

/* gfn of every page of [buf, buf + n pages), 0 where not present. */
static int read_gfns(const char *buf, size_t n, uint64_t *gfn)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	off_t off = (uintptr_t)buf / PAGE * 8;
	ssize_t got;

	if (fd < 0)
		return -errno;
	got = pread(fd, gfn, n * 8, off);
	close(fd);
	if (got != (ssize_t)(n * 8))
		return -EIO;
	for (size_t i = 0; i < n; i++)
		gfn[i] = gfn[i] & PM_PRESENT ? gfn[i] & PM_PFN_MASK : 0;
	return 0;
}

/* The truth, run-length coded: the serial console costs an exit per byte. */
static size_t print_map(const uint64_t *gfn, size_t n)
{
	size_t runs = 0;

	for (size_t i = 0; i < n; ) {
		size_t len = 1, down = 1;

		if (!gfn[i]) {
			i++;
			continue;
		}
		/* the page allocator hands out runs that go up or down */
		while (i + len < n && gfn[i + len] == gfn[i] + len)
			len++;
		while (len == 1 && i + down < n && gfn[i + down] && gfn[i + down] == gfn[i] - down)
			down++;
		if (down > 1) {
			say("KHL2 map %zx %llx -%zx", i, (unsigned long long)gfn[i], down);
			runs++;
			i += down;
			continue;
		}
		say("KHL2 map %zx %llx %zx", i, (unsigned long long)gfn[i], len);
		runs++;
		i += len;
	}
	return runs;
}

static void touch_hot(volatile char *buf, size_t hot, size_t stride, unsigned pass)
{
	for (size_t k = 0; k < hot; k++) {
		volatile char *p = buf + k * stride * PAGE + ((k * 264) % PAGE & ~7UL);

		if (k % 4 == 0)
			*p = (char)(pass + k);
		else
			(void)*p;
	}
}

static int pt_run(unsigned cycles)
{
	char *anchor = (char *)(PT_BASE + (PT_INDEX - 1) * (2UL << 20));
	char *at = (char *)(PT_BASE + PT_INDEX * (2UL << 20));

	if (mmap(anchor, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_FIXED_NOREPLACE, -1, 0) != anchor)
		return -errno;
	*anchor = 1;
	for (unsigned c = 0; c < cycles; c++) {
		volatile char *p = mmap(at, PAGE, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

		if (p != at)
			return -errno;
		*p = (char)c;
		munmap(at, PAGE);
	}
	say("KHL2 pt addr=%p pmd_index=%lx offset=%lu cycles=%u writes=%u", (void *)at, PT_INDEX,
	    PT_INDEX * 8, cycles, 2 * cycles);
	return 0;
}

/* Page-table pages now, from /proc/kpageflags (root only), ~12 per line. */
static void print_pgtables(void)
{
	int fd = open("/proc/kpageflags", O_RDONLY);
	uint64_t flags[512];
	char line[160];
	size_t len = 0, n = 0;
	ssize_t got;

	if (fd < 0) {
		say("KHL2 pgtables-error %s", strerror(errno));
		return;
	}
	for (uint64_t pfn = 0; (got = pread(fd, flags, sizeof(flags), pfn * 8)) > 0;
	     pfn += got / 8) {
		for (ssize_t i = 0; i < got / 8; i++) {
			if (!(flags[i] >> KPF_PGTABLE & 1))
				continue;
			len += snprintf(line + len, sizeof(line) - len, " %llx",
					(unsigned long long)(pfn + i));
			n++;
			if (len > 100) {
				say("KHL2 pgtables%s", line);
				len = 0;
			}
		}
	}
	if (len)
		say("KHL2 pgtables%s", line);
	say("KHL2 pgtables-count %zu", n);
	close(fd);
}

int main(int argc, char **argv)
{
	size_t pages = argc > 1 ? strtoul(argv[1], NULL, 0) : 8192;
	size_t hot = argc > 2 ? strtoul(argv[2], NULL, 0) : 256;
	unsigned passes = argc > 3 ? strtoul(argv[3], NULL, 0) : 3;
	unsigned cycles = argc > 4 ? strtoul(argv[4], NULL, 0) : 0;
	size_t stride, missing = 0, moved = 0, runs;
	uint64_t *gfn, *again;
	char *buf;
	int err;

	if (!pages || !hot || hot > pages) {
		fprintf(stderr, "usage: khl2 PAGES HOT PASSES PT_CYCLES\n");
		return 2;
	}
	stride = pages / hot;
	buf = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	gfn = calloc(pages, 8);
	again = calloc(pages, 8);
	if (buf == MAP_FAILED || !gfn || !again) {
		say("KHL2 error setup: %s", strerror(errno));
		return 1;
	}
	say("KHL2 ready pages=%zu hot=%zu stride=%zu passes=%u", pages, hot, stride, passes);
	if (wait_for("go"))
		return 1;
	for (size_t i = 0; i < pages; i++)
		buf[i * PAGE + ((i * 264) % PAGE & ~7UL)] = (char)i;
	err = read_gfns(buf, pages, gfn);
	if (err) {
		say("KHL2 error pagemap: %s (run as root)", strerror(-err));
		return 1;
	}
	runs = print_map(gfn, pages);
	for (size_t i = 0; i < pages; i++)
		missing += !gfn[i];
	say("KHL2 truth pages=%zu hot=%zu stride=%zu runs=%zu missing=%zu", pages, hot, stride,
	    runs, missing);
	for (unsigned p = 0; p < passes; p++) {
		if (p)
			touch_hot(buf, hot, stride, p);
		say("KHL2 pass %u", p);
		if (wait_for("next"))
			return 1;
	}
	if (!read_gfns(buf, pages, again))
		for (size_t i = 0; i < pages; i++)
			moved += again[i] != gfn[i];
	say("KHL2 moved %zu", moved);
	if (cycles) {
		if (wait_for("pt"))
			return 1;
		err = pt_run(cycles);
		if (err)
			say("KHL2 error pt: %s", strerror(-err));
		print_pgtables();
	}
	say("KHL2 done");
	return 0;
}
