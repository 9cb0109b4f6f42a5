// SPDX-License-Identifier: GPL-2.0
/*
 * khguest - a tiny KVM workload guest with exact ground truth for kvmheat.
 *
 * A minimal VMM on /dev/kvm runs one vCPU in 64-bit long mode with identity
 * mapped 4-level page tables (4 KiB pages everywhere).  The guest walks op
 * lists ({gva, kind}) over a data memslot in "phases"; after each phase it
 * does an `out` to port 0xE9 with the phase number, after the last one it
 * executes `hlt`.  The VMM then prints the exact per-gfn access counts.
 *
 * Build: cc -O2 -Wall -Wextra -o khguest khguest.c -ljansson
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <linux/kvm.h>
#include <jansson.h>

/*
 * Guest code.  Entry state set by the VMM:
 *   %rsi = gpa of the phase table, %rdi = number of phases, %rsp = stack.
 * Phase descriptor (64 bytes): ops gpa, op count, rounds, pt-entry list gpa,
 * pt-entry count, 3 x reserved.  An op is {u64 gva, u64 kind}: kind 0 reads
 * one byte, anything else writes the byte 0x5a.  After the ops of each round
 * the guest rewrites every listed page-table entry with its own value.
 */
__asm__(
"	.pushsection .rodata.khg_guest, \"a\"\n"
"	.code64\n"
"	.globl	khg_guest_begin\n"
"	.globl	khg_guest_end\n"
"khg_guest_begin:\n"
"	xorl	%r15d, %r15d\n"			/* phase index */
"1:	cmpq	%rdi, %r15\n"
"	jae	9f\n"
"	movq	%r15, %rbx\n"
"	shlq	$6, %rbx\n"
"	addq	%rsi, %rbx\n"			/* %rbx = descriptor */
"	movq	16(%rbx), %r10\n"		/* rounds left */
"2:	testq	%r10, %r10\n"
"	jz	8f\n"
"	movq	0(%rbx), %rcx\n"		/* op pointer */
"	movq	8(%rbx), %rdx\n"		/* ops left */
"3:	testq	%rdx, %rdx\n"
"	jz	5f\n"
"	movq	(%rcx), %rax\n"			/* access address */
"	cmpq	$0, 8(%rcx)\n"
"	jne	4f\n"
"	movzbl	(%rax), %ebp\n"			/* read one byte */
"	jmp	6f\n"
"4:	movb	$0x5a, (%rax)\n"		/* write one byte */
"6:	addq	$16, %rcx\n"
"	decq	%rdx\n"
"	jmp	3b\n"
"5:	movq	24(%rbx), %rcx\n"		/* pt entry list */
"	movq	32(%rbx), %rdx\n"
"7:	testq	%rdx, %rdx\n"
"	jz	10f\n"
"	movq	(%rcx), %rax\n"
"	movq	(%rax), %rbp\n"
"	movq	%rbp, (%rax)\n"			/* same value, 8-byte store */
"	addq	$8, %rcx\n"
"	decq	%rdx\n"
"	jmp	7b\n"
"10:	decq	%r10\n"
"	jmp	2b\n"
"8:	incq	%r15\n"
"	movl	%r15d, %eax\n"
"	outb	%al, $0xe9\n"			/* phase done */
"	jmp	1b\n"
"9:	hlt\n"
"	jmp	9b\n"
"khg_guest_end:\n"
"	.popsection\n"
);

extern const unsigned char khg_guest_begin[];
extern const unsigned char khg_guest_end[];

#define KHG_PAGE		4096ULL
#define KHG_PORT		0xe9
#define KHG_MAX_PHASES		64	/* descriptors of KHG_PHASE_DESC bytes fill one page */
#define KHG_PHASE_DESC		64
#define KHG_GDT_GPA		0x1000ULL
#define KHG_TSS_GPA		0x1800ULL
#define KHG_CODE_GPA		0x2000ULL
#define KHG_STACK_SIZE		(4 * KHG_PAGE)
#define KHG_MAX_CTL		(1ULL << 30)
#define KHG_PTE_P		0x1ULL
#define KHG_PTE_RW		0x2ULL
#define KHG_PTE_ADDR		0x000ffffffffff000ULL
#define KHG_CR0			0x80050033ULL	/* PG AM WP NE ET MP PE */
#define KHG_CR4			0x20ULL		/* PAE */
#define KHG_EFER		0x500ULL	/* LMA LME */
#define KHG_MEMCG_ROOT		"/sys/fs/cgroup/memory"
#define KHG_CG2_ROOT		"/sys/fs/cgroup"

struct khg_opts {
	const char *qemu_name, *qemu_uuid;	/* QEMU-style -name / -uuid, carried only */
	bool thp;			/* --thp: MADV_HUGEPAGE on the data slot */
	uint64_t mem_mib;
	uint64_t data_gpa;
	const char *file;
	bool keep_file;
	uint64_t hot;
	uint64_t cold;
	uint64_t rounds;
	uint64_t cold_rounds;
	double write_frac;
	double cold_write_frac;
	int64_t offset;			/* -1: random per page */
	bool contiguous;
	uint64_t seed;
	uint64_t pt_writes;
	uint64_t pause_ms;
	const char *cgroup;
	uint64_t squeeze_mib;
	bool squeeze_last;		/* --squeeze-last: after the last phase too */
	uint64_t hot_phases;
	bool wait_signal;
	const char *truth;
	char fill[256];			/* data slot filled with this text, repeated */
};

struct khg_page {
	uint64_t gfn;
	uint64_t reads;
	uint64_t writes;
	uint32_t offset;
	bool hot;
	bool write;
};

struct khg_ptw {
	uint64_t gpa;
	uint64_t count;
};

struct khg_phase {
	uint64_t ops_gpa;
	uint64_t nops;
	uint64_t rounds;
	uint64_t npt;
	uint64_t start_ns;
	uint64_t end_ns;
	bool done;
};

/* One squeeze (v1) or reclaim (v2) pass, run after phase after_phase. */
struct khg_squeeze {
	unsigned int after_phase;
	bool ok;
	bool short_reclaim;		/* v2: fewer bytes reclaimed than asked */
	int err;
	uint64_t usage_before;
	uint64_t usage_after;
	uint64_t start_ns;
	uint64_t end_ns;
};

struct khg_ctx {
	struct khg_opts o;
	uint64_t rng;
	sigset_t sigs;			/* blocked outside KVM_RUN */

	int kvm_fd;
	int vm_fd;
	int vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	unsigned int phys_bits;

	uint8_t *ctl;
	uint64_t ctl_size;
	uint8_t *data;
	uint64_t data_size;
	uint64_t data_pages;
	int data_fd;
	bool file_made;

	/* control slot layout (guest physical addresses) */
	uint64_t stack_top;
	uint64_t phase_gpa;
	uint64_t ptlist_gpa;
	uint64_t ops_gpa;
	uint64_t nops_total;
	uint64_t pool_gpa;
	uint64_t pool_end;
	uint64_t pool_next;
	uint64_t pml4_gpa;

	struct khg_page *pages;
	size_t npages;
	int32_t *page_idx;		/* data page index -> pages[] or -1 */
	struct khg_ptw *ptw;
	size_t nptw;
	struct khg_phase phases[KHG_MAX_PHASES];
	unsigned int nphases;

	char cg_dir[2 * PATH_MAX + 64];
	char cg_orig[PATH_MAX];
	bool cg_v2;			/* unified hierarchy: memory.reclaim */
	bool cg_made;
	bool cg_joined;
	struct khg_squeeze sq[KHG_MAX_PHASES];
	uint64_t anon_huge_kib;		/* most AnonHugePages seen at a phase end (--thp) */
	unsigned int nsq;

	uint64_t t_start;
	uint64_t t_end;
	int stop_sig;
};

static void khg_err(const char *fmt, ...)
{
	va_list ap;

	fputs("khguest: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t khg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* splitmix64 */
static uint64_t khg_rand(struct khg_ctx *c)
{
	uint64_t z = (c->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t khg_rand_below(struct khg_ctx *c, uint64_t n)
{
	uint64_t lim = UINT64_MAX - UINT64_MAX % n;
	uint64_t r;

	do
		r = khg_rand(c);
	while (r >= lim);
	return r % n;
}

static uint64_t khg_align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* ------------------------------------------------------------------ */
/* options */

static void khg_usage(FILE *f)
{
	fputs(
"usage: khguest [options]\n"
"Runs a 64-bit KVM guest doing a known memory-access pattern; prints its truth.\n"
"  --mem MiB             data slot size (default 64)\n"
"  --data-gpa ADDR       guest physical base of the data slot (default 0x40000000)\n"
"  --file PATH           back the data slot with a MAP_SHARED file (created,\n"
"                        truncated, unlinked at exit)\n"
"  --keep-file           do not unlink --file at exit\n"
"  --thp                 back the (anonymous) data slot with transparent huge\n"
"                        pages: 2 MiB aligned, madvise(MADV_HUGEPAGE)\n"
"  -name ARG, -uuid U    QEMU's identity options, accepted and carried only\n"
"  --fill-from FILE      fill the data slot with FILE's text, repeated (a canary)\n"
"  --hot N               hot pages (default 256)\n"
"  --cold N              cold pages (default 1024)\n"
"  --rounds R            accesses per hot page (default 20)\n"
"  --cold-rounds C       accesses per cold page (default 1)\n"
"  --write-frac F        fraction of hot pages written instead of read (0.25)\n"
"  --cold-write-frac F   fraction of cold pages written (default 0)\n"
"  --offset BYTES|random byte offset of the access inside its page (random)\n"
"  --layout random|contiguous  placement of hot/cold pages (default random)\n"
"  --seed S              PRNG seed (default 1)\n"
"  --pt-writes N         per hot round, rewrite N page-directory entries\n"
"  --pause-ms MS         sleep after each phase\n"
"  --hot-phases K        split the R-1 later hot rounds into K phases (default 1)\n"
"  --cgroup NAME         run in memory cgroup NAME, made and removed by us;\n"
"                        relative to our memcg, or absolute below "
KHG_MEMCG_ROOT "\n"
"                        (cgroup v1) or " KHG_CG2_ROOT " (v2, when v1 is absent)\n"
"  --squeeze MiB         after every phase but the last, force reclaim: v1 lowers\n"
"                        the cgroup limit to MiB and restores it, v2 writes MiB\n"
"                        to memory.reclaim\n"
"  --squeeze-last        squeeze after the last phase too (aging after all use)\n"
"  --wait-signal         after the ready line, wait for SIGUSR1 before running\n"
"  --truth FILE|-        write the ground-truth JSON to FILE (- = stdout)\n"
"  -h, --help            this help\n"
"Phase 1: cold set C times, then hot set once; phases 2..K+1: hot set R-1 times\n"
"in all.\n",
	      f);
}

static int khg_parse_u64(const char *opt, const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	if (!*s || *s == '-')
		goto bad;
	*out = strtoull(s, &end, 0);
	if (errno || *end)
		goto bad;
	return 0;
bad:
	khg_err("bad value for --%s: '%s' (see --help)", opt, s);
	return -1;
}

static int khg_parse_frac(const char *opt, const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (errno || !*s || *end || !(*out >= 0.0 && *out <= 1.0)) {
		khg_err("bad value for --%s: '%s' (want 0..1)", opt, s);
		return -1;
	}
	return 0;
}

enum {
	OPT_MEM = 256, OPT_DATA_GPA, OPT_FILE, OPT_KEEP_FILE, OPT_HOT, OPT_COLD,
	OPT_ROUNDS, OPT_COLD_ROUNDS, OPT_WFRAC, OPT_CWFRAC, OPT_OFFSET, OPT_LAYOUT,
	OPT_SEED, OPT_PT_WRITES, OPT_PAUSE, OPT_CGROUP, OPT_SQUEEZE, OPT_WAIT,
	OPT_TRUTH, OPT_HOT_PHASES, OPT_FILL, OPT_THP, OPT_SQUEEZE_LAST,
};

static const struct option khg_longopts[] = {
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "data-gpa", required_argument, NULL, OPT_DATA_GPA },
	{ "file", required_argument, NULL, OPT_FILE },
	{ "keep-file", no_argument, NULL, OPT_KEEP_FILE },
	{ "hot", required_argument, NULL, OPT_HOT },
	{ "cold", required_argument, NULL, OPT_COLD },
	{ "rounds", required_argument, NULL, OPT_ROUNDS },
	{ "cold-rounds", required_argument, NULL, OPT_COLD_ROUNDS },
	{ "write-frac", required_argument, NULL, OPT_WFRAC },
	{ "cold-write-frac", required_argument, NULL, OPT_CWFRAC },
	{ "offset", required_argument, NULL, OPT_OFFSET },
	{ "layout", required_argument, NULL, OPT_LAYOUT },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "pt-writes", required_argument, NULL, OPT_PT_WRITES },
	{ "pause-ms", required_argument, NULL, OPT_PAUSE },
	{ "cgroup", required_argument, NULL, OPT_CGROUP },
	{ "squeeze", required_argument, NULL, OPT_SQUEEZE },
	{ "squeeze-last", no_argument, NULL, OPT_SQUEEZE_LAST },
	{ "hot-phases", required_argument, NULL, OPT_HOT_PHASES },
	{ "wait-signal", no_argument, NULL, OPT_WAIT },
	{ "truth", required_argument, NULL, OPT_TRUTH },
	{ "fill-from", required_argument, NULL, OPT_FILL },
	{ "thp", no_argument, NULL, OPT_THP },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Returns 0 to run, 1 after --help, -1 on a bad option. */
static int khg_parse_opts(struct khg_opts *o, int argc, char **argv)
{
	const char *name;
	uint64_t v;
	int opt, idx;

	*o = (struct khg_opts){
		.mem_mib = 64, .data_gpa = 0x40000000ULL, .hot = 256,
		.cold = 1024, .rounds = 20, .cold_rounds = 1, .write_frac = 0.25,
		.offset = -1, .seed = 1, .hot_phases = 1,
	};
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", khg_longopts, &idx)) != -1) {
		name = khg_longopts[idx].name;
		switch (opt) {
		case 'h':
			khg_usage(stdout);
			return 1;
		case OPT_MEM:
			if (khg_parse_u64(name, optarg, &o->mem_mib))
				return -1;
			break;
		case OPT_DATA_GPA:
			if (khg_parse_u64(name, optarg, &o->data_gpa))
				return -1;
			break;
		case OPT_FILE:
			o->file = optarg;
			break;
		case OPT_THP:
			o->thp = true;
			break;
		case OPT_SQUEEZE_LAST:
			o->squeeze_last = true;
			break;
		case OPT_KEEP_FILE:
			o->keep_file = true;
			break;
		case OPT_FILL: {
			/* from a file, so the text is on no command line a tracer stores */
			FILE *f = fopen(optarg, "r");
			size_t n = f ? fread(o->fill, 1, sizeof(o->fill) - 1, f) : 0;

			if (f)
				fclose(f);
			if (!n) {
				khg_err("--fill-from %s: no text to fill with", optarg);
				return -1;
			}
			o->fill[n] = 0;
			break;
		}
		case OPT_HOT:
			if (khg_parse_u64(name, optarg, &o->hot))
				return -1;
			break;
		case OPT_COLD:
			if (khg_parse_u64(name, optarg, &o->cold))
				return -1;
			break;
		case OPT_ROUNDS:
			if (khg_parse_u64(name, optarg, &o->rounds))
				return -1;
			break;
		case OPT_COLD_ROUNDS:
			if (khg_parse_u64(name, optarg, &o->cold_rounds))
				return -1;
			break;
		case OPT_WFRAC:
			if (khg_parse_frac(name, optarg, &o->write_frac))
				return -1;
			break;
		case OPT_CWFRAC:
			if (khg_parse_frac(name, optarg, &o->cold_write_frac))
				return -1;
			break;
		case OPT_OFFSET:
			if (!strcmp(optarg, "random")) {
				o->offset = -1;
				break;
			}
			if (khg_parse_u64(name, optarg, &v))
				return -1;
			if (v >= KHG_PAGE) {
				khg_err("--offset must be below 4096 or 'random'");
				return -1;
			}
			o->offset = (int64_t)v;
			break;
		case OPT_LAYOUT:
			if (!strcmp(optarg, "random")) {
				o->contiguous = false;
			} else if (!strcmp(optarg, "contiguous")) {
				o->contiguous = true;
			} else {
				khg_err("--layout must be 'random' or 'contiguous'");
				return -1;
			}
			break;
		case OPT_SEED:
			if (khg_parse_u64(name, optarg, &o->seed))
				return -1;
			break;
		case OPT_PT_WRITES:
			if (khg_parse_u64(name, optarg, &o->pt_writes))
				return -1;
			break;
		case OPT_PAUSE:
			if (khg_parse_u64(name, optarg, &o->pause_ms))
				return -1;
			break;
		case OPT_CGROUP:
			o->cgroup = optarg;
			break;
		case OPT_SQUEEZE:
			if (khg_parse_u64(name, optarg, &o->squeeze_mib))
				return -1;
			break;
		case OPT_HOT_PHASES:
			if (khg_parse_u64(name, optarg, &o->hot_phases))
				return -1;
			break;
		case OPT_WAIT:
			o->wait_signal = true;
			break;
		case OPT_TRUTH:
			o->truth = optarg;
			break;
		case ':':
			khg_err("option '%s' needs a value (see --help)", argv[optind - 1]);
			return -1;
		default:
			khg_err("unknown option '%s' (see --help)", argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		khg_err("unexpected argument '%s' (see --help)", argv[optind]);
		return -1;
	}
	if (o->mem_mib < 1 || o->mem_mib > (1ULL << 20)) {
		khg_err("--mem must be 1..1048576 MiB");
		return -1;
	}
	if (o->thp && o->file) {
		khg_err("--thp is for the anonymous data slot: drop --file");
		return -1;
	}
	if (o->thp && ((o->data_gpa | (o->mem_mib << 20)) & ((2ULL << 20) - 1))) {
		khg_err("--thp needs a 2 MiB aligned --data-gpa and --mem");
		return -1;
	}
	if (o->data_gpa & (KHG_PAGE - 1)) {
		khg_err("--data-gpa must be 4 KiB aligned");
		return -1;
	}
	if (o->rounds < 1) {
		khg_err("--rounds must be at least 1");
		return -1;
	}
	if (o->hot + o->cold < o->hot || o->hot + o->cold > o->mem_mib * 256) {
		khg_err("--hot + --cold (%" PRIu64 ") exceed the %" PRIu64 " data pages",
			o->hot + o->cold, o->mem_mib * 256);
		return -1;
	}
	if (o->pt_writes > (1ULL << 20)) {
		khg_err("--pt-writes must be at most 1048576");
		return -1;
	}
	if (o->hot_phases < 1 || o->hot_phases > KHG_MAX_PHASES - 1) {
		khg_err("--hot-phases must be 1..%d", KHG_MAX_PHASES - 1);
		return -1;
	}
	if (o->squeeze_mib && !o->cgroup) {
		khg_err("--squeeze needs --cgroup");
		return -1;
	}
	if (o->cgroup && (!*o->cgroup || strstr(o->cgroup, ".."))) {
		khg_err("bad --cgroup name '%s'", o->cgroup);
		return -1;
	}
	return 0;
}

/*
 * QEMU's identity options, word for word (-name guest=NAME,..., -uuid U),
 * so a test can run khguest as a VMM named the way QEMU's are; they are
 * only carried on the command line and in the truth file.  The rest goes
 * to getopt.
 */
static int khg_parse(struct khg_opts *o, int argc_in, char **argv_in)
{
	char **argv = calloc(argc_in + 1, sizeof(*argv));
	const char *qname = NULL, *quuid = NULL;
	int argc = 0, ret;

	if (!argv)
		return -1;
	for (int i = 0; i < argc_in; i++) {
		if (i + 1 < argc_in && !strcmp(argv_in[i], "-name")) {
			qname = argv_in[++i];
			continue;
		}
		if (i + 1 < argc_in && !strcmp(argv_in[i], "-uuid")) {
			quuid = argv_in[++i];
			continue;
		}
		argv[argc++] = argv_in[i];
	}
	ret = khg_parse_opts(o, argc, argv);
	o->qemu_name = qname;
	o->qemu_uuid = quuid;
	free(argv);
	return ret;
}

/* ------------------------------------------------------------------ */
/* memory cgroup (v1, or v2 where v1 is not mounted) */

static int khg_write_str(const char *path, const char *s)
{
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	if (n < 0)
		err = -errno;
	else if ((size_t)n != strlen(s))
		err = -EIO;
	close(fd);
	return err;
}

static int khg_read_str(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static uint64_t khg_cg_u64(struct khg_ctx *c, const char *file)
{
	char path[3 * PATH_MAX], buf[64];

	snprintf(path, sizeof(path), "%s/%s", c->cg_dir, file);
	if (khg_read_str(path, buf, sizeof(buf)))
		return 0;
	return strtoull(buf, NULL, 10);
}

/*
 * Our memory cgroup path relative to the mount, from /proc/self/cgroup:
 * the "memory" controller's line on v1, the "0::" line on v2.
 */
static int khg_own_memcg(bool v2, char *out, size_t len)
{
	char line[PATH_MAX + 64];
	FILE *f;
	int ret = -ENOENT;

	f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *ctl = strchr(line, ':'), *path;

		if (!ctl)
			continue;
		path = strchr(ctl + 1, ':');
		if (!path)
			continue;
		*path++ = 0;
		if (v2 ? (strncmp(line, "0:", 2) || ctl[1]) : strcmp(ctl + 1, "memory"))
			continue;
		path[strcspn(path, "\n")] = 0;
		snprintf(out, len, "%s", strcmp(path, "/") ? path : "");
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

static const char *khg_cg_root(struct khg_ctx *c)
{
	return c->cg_v2 ? KHG_CG2_ROOT : KHG_MEMCG_ROOT;
}

/*
 * v2 only hands the memory controller to a child if the parent lists it in
 * cgroup.subtree_control; enabling it is a no-op when it already is.
 */
static int khg_cg2_enable_memory(const char *child)
{
	char parent[3 * PATH_MAX], *slash;
	int err;

	snprintf(parent, sizeof(parent), "%s", child);
	slash = strrchr(parent, '/');
	if (!slash)
		return -EINVAL;
	snprintf(slash, sizeof(parent) - (size_t)(slash - parent), "/cgroup.subtree_control");
	err = khg_write_str(parent, "+memory");
	if (err)
		khg_err("enable the memory controller in %s: %s", parent, strerror(-err));
	return err;
}

static int khg_cgroup_join(struct khg_ctx *c)
{
	char path[3 * PATH_MAX], pid[32];
	int err;

	c->cg_v2 = access(KHG_MEMCG_ROOT, F_OK) &&
		   !access(KHG_CG2_ROOT "/cgroup.controllers", F_OK);
	err = khg_own_memcg(c->cg_v2, c->cg_orig, sizeof(c->cg_orig));
	if (err) {
		khg_err("no %s memory cgroup for this process (%s)", c->cg_v2 ? "v2" : "v1",
			strerror(-err));
		return -1;
	}
	if (c->o.cgroup[0] == '/')
		snprintf(c->cg_dir, sizeof(c->cg_dir), "%s%s", khg_cg_root(c), c->o.cgroup);
	else
		snprintf(c->cg_dir, sizeof(c->cg_dir), "%s%s/%s", khg_cg_root(c), c->cg_orig,
			 c->o.cgroup);
	if (c->cg_v2 && khg_cg2_enable_memory(c->cg_dir))
		return -1;
	if (mkdir(c->cg_dir, 0755) == 0) {
		c->cg_made = true;
	} else if (errno != EEXIST) {
		khg_err("mkdir %s: %s", c->cg_dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/cgroup.procs", c->cg_dir);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	err = khg_write_str(path, pid);
	if (err) {
		khg_err("join %s: %s", c->cg_dir, strerror(-err));
		return -1;
	}
	c->cg_joined = true;
	return 0;
}

static void khg_cgroup_leave(struct khg_ctx *c)
{
	char path[3 * PATH_MAX], pid[32];
	int err;

	if (c->cg_joined) {
		snprintf(path, sizeof(path), "%s%s/cgroup.procs", khg_cg_root(c), c->cg_orig);
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		err = khg_write_str(path, pid);
		if (err)
			khg_err("warning: leave %s: %s", c->cg_dir, strerror(-err));
		c->cg_joined = false;
	}
	if (c->cg_made) {
		if (rmdir(c->cg_dir))
			khg_err("warning: rmdir %s: %s", c->cg_dir, strerror(errno));
		c->cg_made = false;
	}
}

/*
 * Force reclaim of the cgroup while the guest is stopped between phases.
 * v1: lower memory.limit_in_bytes, then restore it.  v2: write the amount
 * to memory.reclaim; EAGAIN there only means less could be reclaimed than
 * asked (everything left was in use), which is recorded, not an error.
 */
/* AnonHugePages of this process now: whether --thp really got huge pages. */
static uint64_t khg_anon_huge_kib(void)
{
	unsigned long long kib = 0;
	char line[128];
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static void khg_squeeze(struct khg_ctx *c, unsigned int after_phase)
{
	const char *usage = c->cg_v2 ? "memory.current" : "memory.usage_in_bytes";
	struct khg_squeeze *sq = &c->sq[c->nsq++];
	char path[3 * PATH_MAX], old[64], val[32];
	int err;

	sq->after_phase = after_phase;
	sq->start_ns = khg_now();
	sq->usage_before = khg_cg_u64(c, usage);
	if (c->cg_v2) {
		snprintf(path, sizeof(path), "%s/memory.reclaim", c->cg_dir);
		snprintf(val, sizeof(val), "%" PRIu64 "M", c->o.squeeze_mib);
		err = khg_write_str(path, val);
		if (err == -EAGAIN) {
			sq->short_reclaim = true;
			err = 0;
		}
		sq->ok = !err;
		sq->usage_after = khg_cg_u64(c, usage);
	} else {
		snprintf(path, sizeof(path), "%s/memory.limit_in_bytes", c->cg_dir);
		err = khg_read_str(path, old, sizeof(old));
		if (!err) {
			snprintf(val, sizeof(val), "%" PRIu64, c->o.squeeze_mib << 20);
			err = khg_write_str(path, val);
			sq->ok = !err;
			sq->usage_after = khg_cg_u64(c, usage);
			if (khg_write_str(path, old))
				khg_err("warning: could not restore %s", path);
		}
	}
	sq->err = -err;
	sq->end_ns = khg_now();
	if (err)
		khg_err("warning: squeeze to %" PRIu64 " MiB: %s", c->o.squeeze_mib,
			strerror(-err));
}

/* ------------------------------------------------------------------ */
/* guest memory and page tables */

static uint64_t *khg_ctl_u64(struct khg_ctx *c, uint64_t gpa)
{
	return (uint64_t *)(c->ctl + gpa);
}

static uint64_t khg_span(uint64_t start, uint64_t size, unsigned int shift)
{
	return ((start + size - 1) >> shift) - (start >> shift) + 1;
}

/* Number of page-table pages needed to map [start, start + size). */
static uint64_t khg_tables_for(uint64_t start, uint64_t size)
{
	return khg_span(start, size, 21) + khg_span(start, size, 30) + khg_span(start, size, 39);
}

static int khg_layout(struct khg_ctx *c)
{
	uint64_t code = (uint64_t)(khg_guest_end - khg_guest_begin);
	uint64_t ops_bytes, pool = 0, need, end;

	c->data_pages = c->o.mem_mib * 256;
	c->data_size = c->o.mem_mib << 20;
	c->nops_total = c->o.cold * c->o.cold_rounds + c->o.hot * 2;
	if (c->o.cold_rounds && c->nops_total / c->o.cold_rounds < c->o.cold) {
		khg_err("op lists too large");
		return -1;
	}
	ops_bytes = c->nops_total * 16;
	if (ops_bytes / 16 != c->nops_total || ops_bytes > KHG_MAX_CTL) {
		khg_err("op lists too large (lower --cold-rounds or --cold)");
		return -1;
	}
	c->stack_top = khg_align_up(KHG_CODE_GPA + code, KHG_PAGE) + KHG_STACK_SIZE;
	c->phase_gpa = c->stack_top;
	c->ptlist_gpa = c->phase_gpa + KHG_PAGE;
	c->ops_gpa = c->ptlist_gpa + khg_align_up(c->o.pt_writes * 8, KHG_PAGE);
	c->pool_gpa = c->ops_gpa + khg_align_up(ops_bytes, KHG_PAGE);
	/* the pool maps itself too: iterate to a fixed point */
	for (;;) {
		end = c->pool_gpa + pool * KHG_PAGE;
		need = 1 + khg_tables_for(KHG_PAGE, end - KHG_PAGE) +
		       khg_tables_for(c->o.data_gpa, c->data_size);
		if (need <= pool)
			break;
		pool = need;
	}
	c->pool_end = end;
	c->ctl_size = end;
	if (c->ctl_size > KHG_MAX_CTL) {
		khg_err("control slot would be %" PRIu64 " bytes: too large", c->ctl_size);
		return -1;
	}
	if (c->o.data_gpa < c->ctl_size) {
		khg_err("--data-gpa 0x%" PRIx64 " overlaps the control slot (0x%" PRIx64
			" bytes)", c->o.data_gpa, c->ctl_size);
		return -1;
	}
	/* identity mapped, so the slot must also be canonical (47-bit) */
	if (c->o.data_gpa + c->data_size > (1ULL << (c->phys_bits < 47 ? c->phys_bits : 47))) {
		khg_err("data slot must end below 2^%u (physical bits %u, 47-bit virtual)",
			c->phys_bits < 47 ? c->phys_bits : 47, c->phys_bits);
		return -1;
	}
	return 0;
}

static uint64_t khg_pt_alloc(struct khg_ctx *c)
{
	uint64_t gpa = c->pool_next;

	if (gpa >= c->pool_end)
		return 0;
	c->pool_next += KHG_PAGE;
	memset(c->ctl + gpa, 0, KHG_PAGE);
	return gpa;
}

/* Address of the entry for va at the given level (4 = PML4 .. 1 = PTE). */
static uint64_t khg_pt_entry(struct khg_ctx *c, uint64_t va, int level, bool make)
{
	uint64_t table = c->pml4_gpa, *e;
	int l;

	for (l = 4; ; l--) {
		uint64_t gpa = table + ((va >> (12 + 9 * (l - 1))) & 511) * 8;

		if (l == level)
			return gpa;
		e = khg_ctl_u64(c, gpa);
		if (!(*e & KHG_PTE_P)) {
			uint64_t t;

			if (!make)
				return 0;
			t = khg_pt_alloc(c);
			if (!t)
				return 0;
			*e = t | KHG_PTE_P | KHG_PTE_RW;
		}
		table = *e & KHG_PTE_ADDR;
	}
}

static int khg_map_range(struct khg_ctx *c, uint64_t start, uint64_t size)
{
	uint64_t va, pte;

	for (va = start; va < start + size; va += KHG_PAGE) {
		pte = khg_pt_entry(c, va, 1, true);
		if (!pte) {
			khg_err("page-table pool exhausted");
			return -1;
		}
		*khg_ctl_u64(c, pte) = va | KHG_PTE_P | KHG_PTE_RW;
	}
	return 0;
}

static int khg_build_tables(struct khg_ctx *c)
{
	c->pool_next = c->pool_gpa;
	c->pml4_gpa = khg_pt_alloc(c);
	/* page 0 stays unmapped to catch stray null accesses */
	if (khg_map_range(c, KHG_PAGE, c->ctl_size - KHG_PAGE))
		return -1;
	return khg_map_range(c, c->o.data_gpa, c->data_size);
}

/* The N page-directory entries rewritten per hot round: data PDEs first. */
static int khg_build_ptlist(struct khg_ctx *c)
{
	uint64_t ncand, i, k, va, *cand;

	if (!c->o.pt_writes)
		return 0;
	ncand = khg_span(c->o.data_gpa, c->data_size, 21) +
		khg_span(KHG_PAGE, c->ctl_size - KHG_PAGE, 21);
	cand = calloc(ncand, sizeof(*cand));
	c->ptw = calloc(ncand, sizeof(*c->ptw));
	if (!cand || !c->ptw) {
		free(cand);
		khg_err("out of memory");
		return -1;
	}
	k = 0;
	for (va = c->o.data_gpa & ~((1ULL << 21) - 1); va < c->o.data_gpa + c->data_size;
	     va += 1ULL << 21)
		cand[k++] = khg_pt_entry(c, va, 2, false);
	for (va = 0; va < c->ctl_size; va += 1ULL << 21)
		cand[k++] = khg_pt_entry(c, va < KHG_PAGE ? KHG_PAGE : va, 2, false);
	for (i = 0; i < c->o.pt_writes; i++) {
		*khg_ctl_u64(c, c->ptlist_gpa + i * 8) = cand[i % k];
	}
	c->nptw = c->o.pt_writes < k ? c->o.pt_writes : k;
	for (i = 0; i < c->nptw; i++)
		c->ptw[i].gpa = cand[i];
	free(cand);
	return 0;
}

/* Pick pages, write the op lists and phase table, and count the truth. */
static int khg_build_ops(struct khg_ctx *c)
{
	uint64_t nsel = c->o.hot + c->o.cold, i, j, r, t, p, n;
	uint64_t *op, cold_ops, hot_ops;
	uint32_t *sel = NULL, *perm;
	uint8_t *wr;
	struct khg_phase *ph;

	c->npages = nsel;
	c->pages = calloc(nsel ? nsel : 1, sizeof(*c->pages));
	c->page_idx = malloc(c->data_pages * sizeof(*c->page_idx));
	perm = malloc(c->data_pages * sizeof(*perm));
	wr = calloc(nsel ? nsel : 1, 1);
	if (!c->pages || !c->page_idx || !perm || !wr) {
		free(perm);
		free(wr);
		khg_err("out of memory");
		return -1;
	}
	for (i = 0; i < c->data_pages; i++) {
		perm[i] = (uint32_t)i;
		c->page_idx[i] = -1;
	}
	if (!c->o.contiguous) {
		for (i = 0; i < nsel; i++) {
			j = i + khg_rand_below(c, c->data_pages - i);
			t = perm[i];
			perm[i] = perm[j];
			perm[j] = (uint32_t)t;
		}
	}
	sel = perm;
	/* written pages: exact fraction of each set, random members */
	n = (uint64_t)(c->o.write_frac * (double)c->o.hot + 0.5);
	for (i = 0; i < n; i++)
		wr[i] = 1;
	n = (uint64_t)(c->o.cold_write_frac * (double)c->o.cold + 0.5);
	for (i = 0; i < n; i++)
		wr[c->o.hot + i] = 1;
	for (i = 1; i < c->o.hot; i++) {
		j = khg_rand_below(c, i + 1);
		t = wr[i];
		wr[i] = wr[j];
		wr[j] = (uint8_t)t;
	}
	for (i = 1; i < c->o.cold; i++) {
		j = khg_rand_below(c, i + 1);
		t = wr[c->o.hot + i];
		wr[c->o.hot + i] = wr[c->o.hot + j];
		wr[c->o.hot + j] = (uint8_t)t;
	}
	for (i = 0; i < nsel; i++) {
		struct khg_page *pg = &c->pages[i];

		pg->gfn = (c->o.data_gpa >> 12) + sel[i];
		pg->offset = c->o.offset < 0 ? (uint32_t)(khg_rand(c) & (KHG_PAGE - 1))
					     : (uint32_t)c->o.offset;
		pg->hot = i < c->o.hot;
		pg->write = wr[i];
		c->page_idx[sel[i]] = (int32_t)i;
	}
	free(wr);
	free(perm);

	/* phase 1 list: cold set C times then hot set; phase 2 list: hot set */
	op = khg_ctl_u64(c, c->ops_gpa);
	cold_ops = c->o.cold * c->o.cold_rounds;
	hot_ops = c->o.hot;
	for (r = 0; r < c->o.cold_rounds; r++)
		for (i = c->o.hot; i < nsel; i++, op += 2) {
			op[0] = (c->pages[i].gfn << 12) + c->pages[i].offset;
			op[1] = c->pages[i].write;
		}
	for (p = 0; p < 2; p++)
		for (i = 0; i < c->o.hot; i++, op += 2) {
			op[0] = (c->pages[i].gfn << 12) + c->pages[i].offset;
			op[1] = c->pages[i].write;
		}

	/* the R-1 later hot rounds, spread over K phases, the first ones longer */
	c->nphases = 1 + (unsigned int)c->o.hot_phases;
	c->phases[0] = (struct khg_phase){
		.ops_gpa = c->ops_gpa, .nops = cold_ops + hot_ops, .rounds = 1,
		.npt = c->o.pt_writes,
	};
	for (p = 1; p < c->nphases; p++)
		c->phases[p] = (struct khg_phase){
			.ops_gpa = c->ops_gpa + (cold_ops + hot_ops) * 16, .nops = hot_ops,
			.rounds = (c->o.rounds - 1) / c->o.hot_phases +
				  (p - 1 < (c->o.rounds - 1) % c->o.hot_phases),
			.npt = c->o.pt_writes,
		};
	for (p = 0; p < c->nphases; p++) {
		uint64_t *d = khg_ctl_u64(c, c->phase_gpa + p * KHG_PHASE_DESC);

		ph = &c->phases[p];
		d[0] = ph->ops_gpa;
		d[1] = ph->nops;
		d[2] = ph->rounds;
		d[3] = c->ptlist_gpa;
		d[4] = ph->npt;
		/* truth: replay exactly what the guest will execute */
		op = khg_ctl_u64(c, ph->ops_gpa);
		for (i = 0; i < ph->nops; i++, op += 2) {
			struct khg_page *pg;

			pg = &c->pages[c->page_idx[((op[0] - c->o.data_gpa) >> 12)]];
			if (op[1])
				pg->writes += ph->rounds;
			else
				pg->reads += ph->rounds;
		}
		for (i = 0; i < ph->npt; i++)
			c->ptw[i % c->nptw].count += ph->rounds;
	}
	return 0;
}

static int khg_alloc_slots(struct khg_ctx *c)
{
	int fd;

	c->ctl = mmap(NULL, c->ctl_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (c->ctl == MAP_FAILED) {
		c->ctl = NULL;
		khg_err("mmap control slot: %s", strerror(errno));
		return -1;
	}
	if (mlock(c->ctl, c->ctl_size) && c->o.cgroup)
		khg_err("warning: mlock control slot: %s", strerror(errno));
	madvise(c->ctl, c->ctl_size, MADV_NOHUGEPAGE);

	if (!c->o.file && c->o.thp) {
		/* a huge page needs a 2 MiB aligned HVA (and gpa): map more, trim */
		size_t huge = 2UL << 20, len = c->data_size + huge;
		uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (p != MAP_FAILED) {
			uint8_t *a = (uint8_t *)(((uintptr_t)p + huge - 1) & ~(uintptr_t)(huge - 1));

			if (a > p)
				munmap(p, a - p);
			if (a + c->data_size < p + len)
				munmap(a + c->data_size, p + len - (a + c->data_size));
			if (madvise(a, c->data_size, MADV_HUGEPAGE))
				khg_err("warning: madvise(MADV_HUGEPAGE): %s", strerror(errno));
			p = a;
		}
		c->data = p;
	} else if (!c->o.file) {
		c->data = mmap(NULL, c->data_size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	} else {
		fd = open(c->o.file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			khg_err("open %s: %s", c->o.file, strerror(errno));
			return -1;
		}
		c->data_fd = fd;
		c->file_made = true;
		if (ftruncate(fd, (off_t)c->data_size)) {
			khg_err("ftruncate %s: %s", c->o.file, strerror(errno));
			return -1;
		}
		c->data = mmap(NULL, c->data_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	}
	if (c->data == MAP_FAILED) {
		c->data = NULL;
		khg_err("mmap data slot: %s", strerror(errno));
		return -1;
	}
	/* Known guest memory contents, so a test can prove no output carries them. */
	if (c->o.fill[0]) {
		size_t n = strlen(c->o.fill);

		for (size_t off = 0; off < c->data_size; off += n)
			memcpy((char *)c->data + off, c->o.fill,
			       n < c->data_size - off ? n : c->data_size - off);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* KVM */

static int khg_cpuid(struct khg_ctx *c)
{
	struct kvm_cpuid2 *cpuid = NULL;
	unsigned int n = 64, i;
	int ret;

	c->phys_bits = 36;
	for (;;) {
		free(cpuid);
		cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(cpuid->entries[0]));
		if (!cpuid)
			return -1;
		cpuid->nent = n;
		ret = ioctl(c->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid);
		if (!ret || errno != E2BIG || n >= 4096)
			break;
		n *= 2;
	}
	if (ret) {
		khg_err("warning: KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		free(cpuid);
		return 0;
	}
	for (i = 0; i < cpuid->nent; i++)
		if (cpuid->entries[i].function == 0x80000008)
			c->phys_bits = cpuid->entries[i].eax & 0xff;
	if (c->phys_bits > 52 || c->phys_bits < 32)
		c->phys_bits = 36;
	if (c->vcpu_fd >= 0 && ioctl(c->vcpu_fd, KVM_SET_CPUID2, cpuid))
		khg_err("warning: KVM_SET_CPUID2: %s", strerror(errno));
	free(cpuid);
	return 0;
}

static int khg_kvm_open(struct khg_ctx *c)
{
	int v;

	c->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (c->kvm_fd < 0) {
		khg_err("open /dev/kvm: %s", strerror(errno));
		return -1;
	}
	v = ioctl(c->kvm_fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION) {
		khg_err("KVM API version %d, want %d", v, KVM_API_VERSION);
		return -1;
	}
	if (ioctl(c->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) <= 0) {
		khg_err("KVM lacks KVM_CAP_USER_MEMORY");
		return -1;
	}
	return khg_cpuid(c);	/* phys_bits, needed by the layout */
}

static int khg_slot(struct khg_ctx *c, uint32_t slot, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	if (ioctl(c->vm_fd, KVM_SET_USER_MEMORY_REGION, &r)) {
		khg_err("KVM_SET_USER_MEMORY_REGION slot %u: %s", slot, strerror(errno));
		return -1;
	}
	return 0;
}

static void khg_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = code ? 0 : 1, .s = 1, .l = code ? 1 : 0,
		.g = 1,
	};
}

static int khg_vcpu_setup(struct khg_ctx *c)
{
	struct kvm_signal_mask *km;
	struct kvm_sregs sr;
	struct kvm_regs regs;
	sigset_t runmask;
	uint64_t *gdt = khg_ctl_u64(c, KHG_GDT_GPA);
	int sz;

	c->vm_fd = ioctl(c->kvm_fd, KVM_CREATE_VM, 0);
	if (c->vm_fd < 0) {
		khg_err("KVM_CREATE_VM: %s", strerror(errno));
		return -1;
	}
	if (khg_slot(c, 0, 0, c->ctl_size, c->ctl) ||
	    khg_slot(c, 1, c->o.data_gpa, c->data_size, c->data))
		return -1;
	c->vcpu_fd = ioctl(c->vm_fd, KVM_CREATE_VCPU, 0);
	if (c->vcpu_fd < 0) {
		khg_err("KVM_CREATE_VCPU: %s", strerror(errno));
		return -1;
	}
	khg_cpuid(c);
	sz = ioctl(c->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz < (int)sizeof(struct kvm_run)) {
		khg_err("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		return -1;
	}
	c->run_size = (size_t)sz;
	c->run = mmap(NULL, c->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->vcpu_fd, 0);
	if (c->run == MAP_FAILED) {
		c->run = NULL;
		khg_err("mmap kvm_run: %s", strerror(errno));
		return -1;
	}

	/* GDT: null, 64-bit code (0x08), data (0x10), 64-bit TSS (0x18) */
	gdt[0] = 0;
	gdt[1] = 0x00af9b000000ffffULL;
	gdt[2] = 0x00cf93000000ffffULL;
	gdt[3] = 0x0000890000000067ULL | ((KHG_TSS_GPA & 0xffffff) << 16);
	gdt[4] = 0;

	if (ioctl(c->vcpu_fd, KVM_GET_SREGS, &sr)) {
		khg_err("KVM_GET_SREGS: %s", strerror(errno));
		return -1;
	}
	khg_seg(&sr.cs, 0x08, 0xb, true);
	khg_seg(&sr.ds, 0x10, 0x3, false);
	sr.es = sr.ds;
	sr.ss = sr.ds;
	sr.fs = sr.ds;
	sr.gs = sr.ds;
	sr.tr = (struct kvm_segment){
		.base = KHG_TSS_GPA, .limit = 0x67, .selector = 0x18, .type = 0xb,
		.present = 1,
	};
	sr.ldt = (struct kvm_segment){ .selector = 0, .type = 0x2, .unusable = 1 };
	sr.gdt.base = KHG_GDT_GPA;
	sr.gdt.limit = 5 * 8 - 1;
	sr.idt.base = 0;
	sr.idt.limit = 0;
	sr.cr0 = KHG_CR0;
	sr.cr3 = c->pml4_gpa;
	sr.cr4 = KHG_CR4;
	sr.efer = KHG_EFER;
	if (ioctl(c->vcpu_fd, KVM_SET_SREGS, &sr)) {
		khg_err("KVM_SET_SREGS: %s", strerror(errno));
		return -1;
	}
	memset(&regs, 0, sizeof(regs));
	regs.rip = KHG_CODE_GPA;
	regs.rsp = c->stack_top;
	regs.rsi = c->phase_gpa;
	regs.rdi = c->nphases;
	regs.rflags = 0x2;
	if (ioctl(c->vcpu_fd, KVM_SET_REGS, &regs)) {
		khg_err("KVM_SET_REGS: %s", strerror(errno));
		return -1;
	}

	/* our stop signals stay blocked except while the guest runs */
	sigprocmask(SIG_SETMASK, NULL, &runmask);
	sigdelset(&runmask, SIGINT);
	sigdelset(&runmask, SIGTERM);
	sigdelset(&runmask, SIGUSR1);
	km = calloc(1, sizeof(*km) + 8);
	if (!km)
		return -1;
	km->len = 8;		/* the kernel's sigset_t */
	memcpy(km->sigset, &runmask, 8);
	if (ioctl(c->vcpu_fd, KVM_SET_SIGNAL_MASK, km)) {
		khg_err("KVM_SET_SIGNAL_MASK: %s", strerror(errno));
		free(km);
		return -1;
	}
	free(km);
	return 0;
}

/* Consume pending signals; returns the stop signal or 0. */
static int khg_poll_signals(struct khg_ctx *c)
{
	struct timespec zero = { 0, 0 };
	int s;

	while ((s = sigtimedwait(&c->sigs, NULL, &zero)) > 0)
		if (s == SIGINT || s == SIGTERM)
			c->stop_sig = s;
	return c->stop_sig;
}

/* Sleep ms milliseconds unless a stop signal comes. */
static int khg_pause(struct khg_ctx *c, uint64_t ms)
{
	uint64_t end = khg_now() + ms * 1000000ULL, now;
	struct timespec ts;
	int s;

	while ((now = khg_now()) < end) {
		ts.tv_sec = (time_t)((end - now) / 1000000000ULL);
		ts.tv_nsec = (long)((end - now) % 1000000000ULL);
		s = sigtimedwait(&c->sigs, NULL, &ts);
		if (s == SIGINT || s == SIGTERM) {
			c->stop_sig = s;
			return s;
		}
	}
	return 0;
}

static int khg_wait_usr1(struct khg_ctx *c)
{
	int s;

	for (;;) {
		s = sigwaitinfo(&c->sigs, NULL);
		if (s == SIGUSR1)
			return 0;
		if (s == SIGINT || s == SIGTERM) {
			c->stop_sig = s;
			return s;
		}
	}
}

static void khg_report_regs(struct khg_ctx *c, const char *what)
{
	struct kvm_regs regs;

	if (ioctl(c->vcpu_fd, KVM_GET_REGS, &regs) == 0)
		khg_err("%s (rip=0x%llx rax=0x%llx)", what, regs.rip, regs.rax);
	else
		khg_err("%s", what);
}

static int khg_run(struct khg_ctx *c)
{
	struct kvm_run *run = c->run;
	unsigned int cur = 0;
	uint8_t val;

	c->t_start = khg_now();
	c->phases[0].start_ns = c->t_start;
	for (;;) {
		if (khg_poll_signals(c))
			return -1;
		if (ioctl(c->vcpu_fd, KVM_RUN, 0)) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			khg_err("KVM_RUN: %s", strerror(errno));
			return -1;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != KHG_PORT ||
			    run->io.size != 1) {
				khg_err("unexpected I/O: port 0x%x dir %u size %u",
					run->io.port, run->io.direction, run->io.size);
				return -1;
			}
			val = *((uint8_t *)run + run->io.data_offset);
			if (cur >= c->nphases || val != cur + 1) {
				khg_err("guest reported phase %u, expected %u", val, cur + 1);
				return -1;
			}
			c->phases[cur].end_ns = khg_now();
			c->phases[cur].done = true;
			/* before any squeeze: reclaim splits huge pages it swaps out */
			if (c->o.thp && khg_anon_huge_kib() > c->anon_huge_kib)
				c->anon_huge_kib = khg_anon_huge_kib();
			if ((cur + 1 < c->nphases || c->o.squeeze_last) && c->o.squeeze_mib)
				khg_squeeze(c, cur + 1);
			if (c->o.pause_ms && khg_pause(c, c->o.pause_ms))
				return -1;
			cur++;
			if (cur < c->nphases)
				c->phases[cur].start_ns = khg_now();
			break;
		case KVM_EXIT_HLT:
			c->t_end = khg_now();
			if (cur != c->nphases) {
				khg_err("guest halted after %u of %u phases", cur, c->nphases);
				return -1;
			}
			return 0;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_MMIO:
			khg_err("guest touched unbacked gpa 0x%llx", run->mmio.phys_addr);
			return -1;
		case KVM_EXIT_SHUTDOWN:
			khg_report_regs(c, "guest shut down (triple fault)");
			return -1;
		case KVM_EXIT_FAIL_ENTRY:
			khg_err("VM entry failed, reason 0x%llx",
				run->fail_entry.hardware_entry_failure_reason);
			return -1;
		case KVM_EXIT_INTERNAL_ERROR:
			khg_report_regs(c, "KVM internal error");
			khg_err("internal error suberror %u", run->internal.suberror);
			return -1;
		default:
			khg_report_regs(c, "unexpected exit");
			khg_err("unexpected exit reason %u", run->exit_reason);
			return -1;
		}
	}
}

/* ------------------------------------------------------------------ */
/* truth */

static json_t *khg_int(uint64_t v)
{
	return json_integer((json_int_t)v);
}


static int khg_page_cmp(const void *a, const void *b)
{
	const struct khg_page *x = a, *y = b;

	return x->gfn < y->gfn ? -1 : x->gfn > y->gfn;
}

static int khg_write_truth(struct khg_ctx *c)
{
	json_t *root, *arr, *o;
	unsigned int i;
	size_t k;
	FILE *f;
	int ret;

	root = json_object();
	json_object_set_new(root, "pid", json_integer(getpid()));
	json_object_set_new(root, "qemu_name", c->o.qemu_name ? json_string(c->o.qemu_name) :
			    json_null());
	json_object_set_new(root, "thp", json_boolean(c->o.thp));
	json_object_set_new(root, "anon_huge_kib", khg_int(c->anon_huge_kib));
	json_object_set_new(root, "data_gpa", khg_int(c->o.data_gpa));
	json_object_set_new(root, "data_pages", khg_int(c->data_pages));
	json_object_set_new(root, "page_size", khg_int(KHG_PAGE));

	arr = json_array();
	for (i = 0; i < 2; i++) {
		o = json_object();
		json_object_set_new(o, "slot", json_integer(i));
		json_object_set_new(o, "name", json_string(i ? "data" : "control"));
		json_object_set_new(o, "gpa", khg_int(i ? c->o.data_gpa : 0));
		json_object_set_new(o, "size", khg_int(i ? c->data_size : c->ctl_size));
		json_object_set_new(o, "hva", khg_int((uintptr_t)(i ? c->data : c->ctl)));
		json_object_set_new(o, "file", i && c->o.file ? json_string(c->o.file)
							      : json_null());
		json_array_append_new(arr, o);
	}
	json_object_set_new(root, "slots", arr);

	o = json_object();
	json_object_set_new(o, "hot", khg_int(c->o.hot));
	json_object_set_new(o, "cold", khg_int(c->o.cold));
	json_object_set_new(o, "hot_accesses", khg_int(c->o.rounds));
	json_object_set_new(o, "cold_accesses", khg_int(c->o.cold_rounds));
	json_object_set_new(o, "write_frac", json_real(c->o.write_frac));
	json_object_set_new(o, "cold_write_frac", json_real(c->o.cold_write_frac));
	json_object_set_new(o, "offset", c->o.offset < 0 ? json_string("random")
							 : json_integer(c->o.offset));
	json_object_set_new(o, "layout", json_string(c->o.contiguous ? "contiguous"
								      : "random"));
	json_object_set_new(o, "seed", khg_int(c->o.seed));
	json_object_set_new(o, "pt_writes_per_round", khg_int(c->o.pt_writes));
	json_object_set_new(o, "pause_ms", khg_int(c->o.pause_ms));
	json_object_set_new(o, "hot_phases", khg_int(c->o.hot_phases));
	json_object_set_new(root, "pattern", o);

	arr = json_array();
	for (i = 0; i < c->nphases; i++) {
		struct khg_phase *ph = &c->phases[i];

		o = json_object();
		json_object_set_new(o, "phase", json_integer(i + 1));
		json_object_set_new(o, "rounds", khg_int(ph->rounds));
		json_object_set_new(o, "ops", khg_int(ph->nops));
		json_object_set_new(o, "pt_writes", khg_int(ph->npt));
		json_object_set_new(o, "start_ns", khg_int(ph->start_ns));
		json_object_set_new(o, "end_ns", khg_int(ph->end_ns));
		json_array_append_new(arr, o);
	}
	json_object_set_new(root, "phases", arr);

	qsort(c->pages, c->npages, sizeof(*c->pages), khg_page_cmp);
	arr = json_array();
	for (k = 0; k < c->npages; k++) {
		struct khg_page *pg = &c->pages[k];

		if (!pg->reads && !pg->writes)
			continue;
		o = json_object();
		json_object_set_new(o, "gfn", khg_int(pg->gfn));
		json_object_set_new(o, "reads", khg_int(pg->reads));
		json_object_set_new(o, "writes", khg_int(pg->writes));
		json_object_set_new(o, "offset", khg_int(pg->offset));
		json_object_set_new(o, "hot", json_boolean(pg->hot));
		json_array_append_new(arr, o);
	}
	json_object_set_new(root, "pages", arr);

	arr = json_array();
	for (k = 0; k < c->nptw; k++) {
		o = json_object();
		json_object_set_new(o, "gpa", khg_int(c->ptw[k].gpa));
		json_object_set_new(o, "gfn", khg_int(c->ptw[k].gpa >> 12));
		json_object_set_new(o, "offset", khg_int(c->ptw[k].gpa & (KHG_PAGE - 1)));
		json_object_set_new(o, "level", json_integer(2));
		json_object_set_new(o, "bytes", json_integer(8));
		json_object_set_new(o, "count", khg_int(c->ptw[k].count));
		json_array_append_new(arr, o);
	}
	json_object_set_new(root, "pt_writes", arr);

	if (c->nsq) {
		/* the first pass's figures at the top level, as before --hot-phases */
		json_t *passes = json_array();
		bool all_ok = true;
		int first_err = 0;

		for (i = 0; i < c->nsq; i++) {
			struct khg_squeeze *sq = &c->sq[i];

			all_ok &= sq->ok;
			if (!first_err)
				first_err = sq->err;
			o = json_object();
			json_object_set_new(o, "after_phase", json_integer(sq->after_phase));
			json_object_set_new(o, "ok", json_boolean(sq->ok));
			json_object_set_new(o, "short", json_boolean(sq->short_reclaim));
			json_object_set_new(o, "error", sq->err ? json_string(strerror(sq->err))
							       : json_null());
			json_object_set_new(o, "usage_before", khg_int(sq->usage_before));
			json_object_set_new(o, "usage_after", khg_int(sq->usage_after));
			json_object_set_new(o, "start_ns", khg_int(sq->start_ns));
			json_object_set_new(o, "end_ns", khg_int(sq->end_ns));
			json_array_append_new(passes, o);
		}
		o = json_object();
		json_object_set_new(o, "cgroup", json_string(c->cg_dir));
		json_object_set_new(o, "cgroup_version", json_integer(c->cg_v2 ? 2 : 1));
		json_object_set_new(o, "limit_mib", khg_int(c->o.squeeze_mib));
		json_object_set_new(o, "ok", json_boolean(all_ok));
		json_object_set_new(o, "error", first_err ? json_string(strerror(first_err))
							  : json_null());
		json_object_set_new(o, "usage_before", khg_int(c->sq[0].usage_before));
		json_object_set_new(o, "usage_after", khg_int(c->sq[0].usage_after));
		json_object_set_new(o, "start_ns", khg_int(c->sq[0].start_ns));
		json_object_set_new(o, "end_ns", khg_int(c->sq[0].end_ns));
		json_object_set_new(o, "passes", passes);
		json_object_set_new(root, "squeeze", o);
	}
	json_object_set_new(root, "start_ns", khg_int(c->t_start));
	json_object_set_new(root, "end_ns", khg_int(c->t_end));
	json_object_set_new(root, "elapsed_ns", khg_int(c->t_end - c->t_start));

	if (!strcmp(c->o.truth, "-")) {
		f = stdout;
	} else {
		f = fopen(c->o.truth, "we");
		if (!f) {
			khg_err("open %s: %s", c->o.truth, strerror(errno));
			json_decref(root);
			return -1;
		}
	}
	ret = json_dumpf(root, f, JSON_COMPACT);
	fputc('\n', f);
	if (f == stdout)
		ret |= fflush(f);
	else
		ret |= fclose(f);
	json_decref(root);
	if (ret) {
		khg_err("writing truth to %s failed", c->o.truth);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */

static void khg_cleanup(struct khg_ctx *c)
{
	if (c->run)
		munmap(c->run, c->run_size);
	if (c->vcpu_fd >= 0)
		close(c->vcpu_fd);
	if (c->vm_fd >= 0)
		close(c->vm_fd);
	if (c->kvm_fd >= 0)
		close(c->kvm_fd);
	if (c->data)
		munmap(c->data, c->data_size);
	if (c->ctl)
		munmap(c->ctl, c->ctl_size);
	if (c->data_fd >= 0)
		close(c->data_fd);
	if (c->file_made && !c->o.keep_file && unlink(c->o.file))
		khg_err("warning: unlink %s: %s", c->o.file, strerror(errno));
	khg_cgroup_leave(c);
	free(c->pages);
	free(c->page_idx);
	free(c->ptw);
}

static int khg_main(struct khg_ctx *c)
{
	if (c->o.cgroup && khg_cgroup_join(c))
		return -1;
	if (khg_kvm_open(c) || khg_layout(c) || khg_alloc_slots(c))
		return -1;
	memcpy(c->ctl + KHG_CODE_GPA, khg_guest_begin,
	       (size_t)(khg_guest_end - khg_guest_begin));
	if (khg_build_tables(c) || khg_build_ptlist(c) || khg_build_ops(c))
		return -1;
	if (khg_vcpu_setup(c))
		return -1;

	fprintf(stderr, "khguest: ready pid=%d data_gpa=0x%" PRIx64 " pages=%" PRIu64 "\n",
		(int)getpid(), c->o.data_gpa, c->data_pages);
	fflush(stderr);
	if (c->o.wait_signal && khg_wait_usr1(c))
		return -1;
	if (khg_run(c))
		return -1;
	fprintf(stderr, "khguest: done phases=%u elapsed_ms=%.1f\n", c->nphases,
		(double)(c->t_end - c->t_start) / 1e6);
	if (c->o.truth && khg_write_truth(c))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct khg_ctx *c;
	int ret, sig;

	c = calloc(1, sizeof(*c));
	if (!c) {
		khg_err("out of memory");
		return 1;
	}
	ret = khg_parse(&c->o, argc, argv);
	if (ret) {
		free(c);
		return ret > 0 ? 0 : 2;
	}
	c->rng = c->o.seed;
	c->kvm_fd = c->vm_fd = c->vcpu_fd = c->data_fd = -1;
	sigemptyset(&c->sigs);
	sigaddset(&c->sigs, SIGINT);
	sigaddset(&c->sigs, SIGTERM);
	sigaddset(&c->sigs, SIGUSR1);
	sigprocmask(SIG_BLOCK, &c->sigs, NULL);

	ret = khg_main(c);
	sig = c->stop_sig;
	khg_cleanup(c);
	free(c);
	if (sig) {
		khg_err("stopped by signal %d (%s)", sig, strsignal(sig));
		return 128 + sig;
	}
	return ret ? 1 : 0;
}
