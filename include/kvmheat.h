/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * kvmheat ABI: every key, value and record that crosses the kernel/user
 * boundary.  Both the BPF objects and userspace include this file, so the
 * two views cannot drift; the _Static_asserts pin the layouts and
 * tests/test_abi.c checks them against the BTF of the compiled BPF object.
 *
 * Rules: fixed-width types only, explicit padding, every record that is
 * streamed (iterator output, ring buffer) starts with struct kh_rec_hdr.
 */
#ifndef KVMHEAT_H
#define KVMHEAT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define KH_PAGE_SHIFT		12
#define KH_PAGE_SIZE		(1ULL << KH_PAGE_SHIFT)
/* SPP granularity: 128-byte sub-pages, 32 per 4 KiB page, one bit each. */
#define KH_SUBPAGE_SHIFT	7
#define KH_SUBPAGES		32
/* Region counters cover 2 MiB (512 gfns), the x86 large-page size. */
#define KH_REGION_SHIFT		9
#define KH_REGION_GFNS		(1U << KH_REGION_SHIFT)

/* Memslots the HVA->gfn attribution table can hold (all VMs together). */
#define KH_MAX_HVA_SLOTS	256
/* Memslots per VM the discovery iterator walks. */
#define KH_MAX_SLOTS_PER_VM	512
/*
 * Aging ranges up to this many pages are attributed per gfn.  A longer
 * range (a huge page: KVM ages a THP- or hugetlbfs-backed mapping 2 MiB or
 * 1 GiB at a time; or a sweep) is one observation at the granularity the
 * hook gave: each 2 MiB region it covers counts it once, as a "coarse"
 * check, and no 4 KiB page inside is credited with it.
 */
#define KH_AGE_GFN_MAX		16
#define KH_AGE_REGION_MAX	512	/* regions per range: a 1 GiB page */

/* Event sources: what a user asks for.  Each has one or more hooks. */
enum kh_source {
	KH_SRC_AGING = 0,	/* MMU-notifier aging: age/test_age results */
	KH_SRC_TRACK = 1,	/* page-track (write-protected gfn) writes */
	KH_SRC_SPP = 2,		/* sub-page write-protection violations */
	KH_SRC_WALK = 3,	/* faults and guest page-table walks */
	KH_SRC_MAX
};

/*
 * Per-source counters (per-CPU array, index = src * KH_STAT_MAX + stat).
 * Anything the BPF side could not attribute is counted, never dropped
 * silently.
 */
enum kh_stat {
	KH_STAT_EVENTS = 0,	/* hook invocations */
	KH_STAT_COUNTED,	/* events that updated per-gfn state */
	KH_STAT_FILTERED,	/* dropped by the pid filter */
	KH_STAT_NO_VM,		/* could not attribute to a VM */
	KH_STAT_MAP_FULL,	/* a map update failed (table full) */
	KH_STAT_TRUNCATED,	/* region-level only: range too long, or an old
				 * aging result for a gfn not in a full table */
	KH_STAT_WALK_LOST,	/* walk element without a matching walk */
	KH_STAT_NO_GFN,		/* event carries no guest physical address */
	KH_STAT_EMITTED,	/* events put into the ring buffer */
	KH_STAT_LOST,		/* events lost: ring buffer full */
	KH_STAT_EV_FILTERED,	/* events the in-kernel event filter dropped */
	KH_STAT_MAX
};
#define KH_NR_STATS		(KH_SRC_MAX * KH_STAT_MAX)

/* Aggregation key: a VM (its VMM's tgid) and a gfn or a region index. */
struct kh_key {
	__u32 pid;
	__u32 _pad;
	__u64 idx;		/* gfn, or gfn >> KH_REGION_SHIFT */
};
_Static_assert(sizeof(struct kh_key) == 16, "kh_key layout");

/* Value flags. */
#define KH_F_YOUNG_KNOWN	(1U << 0)	/* aging result (young) was observed */
#define KH_F_HVA_AGED		(1U << 1)	/* aged via HVA tracepoint (no result) */
#define KH_F_RANGE_AGED		(1U << 2)	/* region: a range too long for per-gfn
						 * entries (a huge mapping) was aged here */
#define KH_F_TESTED		(1U << 3)	/* aged by a test (kvm_test_age_gfn), which
						 * does not clear the accessed bit */

/*
 * Counters per gfn and per region.  "accesses" sums every access signal
 * (guest walk, fault, young aging result, tracked write, SPP exit); the
 * other fields break it down.  "aged" counts aging checks, which are not
 * accesses.
 */
struct kh_counts {
	__u64 accesses;
	__u64 writes;
	__u64 faults;
	__u64 aged;
	__u64 young;
	__u64 tracked;		/* page-track writes */
	__u64 spp;		/* SPP violations */
	__u32 subpage_mask;	/* bit i: a write touched bytes [128*i, 128*i+127] */
	__u32 flags;		/* KH_F_* */
};
_Static_assert(sizeof(struct kh_counts) == 64, "kh_counts layout");

/*
 * Region value: counters plus which of its 512 gfns were accessed, and the
 * aging it saw only as part of a range of more than KH_AGE_GFN_MAX pages
 * (also counted, once per range, in c.aged / c.young / c.accesses).
 */
struct kh_region {
	struct kh_counts c;
	__u64 touched[KH_REGION_GFNS / 64];
	__u64 coarse_aged;	/* aging checks of long ranges covering this region */
	__u64 coarse_young;	/* of those, found young */
	__u64 coarse_pages;	/* the longest such range, in pages: the cell size seen */
	__u64 _rsv;
};
_Static_assert(sizeof(struct kh_region) == 160, "kh_region layout");

/* Sub-page write counts of a written gfn (separate, smaller LRU map). */
struct kh_subpages {
	__u32 cnt[KH_SUBPAGES];
};
_Static_assert(sizeof(struct kh_subpages) == 128, "kh_subpages layout");

/* HVA -> (VM, gfn) attribution for hooks that only carry host addresses. */
struct kh_hva_slot {
	__u64 hva_start;
	__u64 hva_end;		/* exclusive */
	__u64 base_gfn;
	__u64 kvm;		/* struct kvm * of the owning VM */
	__u32 pid;
	__u32 _pad;
};
_Static_assert(sizeof(struct kh_hva_slot) == 40, "kh_hva_slot layout");

/*
 * Idle states (kvmheat idle, and top/export with an aging driver): every
 * scanned VM has an array of words of its own, idle_bits[@map] (created at
 * the size it needs when its driver opens, so nothing is reserved for VMs
 * that may come later).  A page has three states since the array was last
 * read: nothing (KH_IDLE_S_NONE), aged and not found young (a clear or a
 * test ran, or an HVA-only aging: KH_IDLE_S_AGED), and found young (or
 * spte-changed: KH_IDLE_S_YOUNG); a state only rises.  Three states take
 * log2(3) = 1.58 bits, so a word holds KH_IDLE_PPW pages as base-3 digits:
 * page 40k + d of a memslot is digit d (weight kh_idle_pow3[d]) of word
 * word_off + k.  3^40 < 2^64: 6554 words, 51.2 KiB per GiB, where an aged
 * and a young bit per page took 64 KiB.  A range longer than
 * KH_AGE_GFN_MAX (a huge mapping aged as one) is one state per 2 MiB
 * region it covers, never spread over pages: region 40k + d of the slot
 * (counted from base_gfn >> KH_REGION_SHIFT) is digit d of word
 * region_off + k, 13 words per GiB.
 * Clears (kvm_age_gfn: "accessed since this page's accessed bit was last
 * cleared"; for a page never cleared, since its SPTE was made) and tests
 * (kvm_test_age_gfn: the bit read and left set) share the states: a
 * young result of either counts only on a page a scan of ours has cleared
 * before (idle.c), so neither a page's first clear nor a test of a page we
 * never cleared can make it hot (DAMON clears a sample and tests it one
 * sample later: the clear's stale young and the test's old land together).
 * @pid says whose slot it is: top and export scan several VMs at once;
 * npages 0 marks a free entry.  64 entries: a QEMU VM has 2-4 RAM
 * memslots, so about 16 VMs get states; the BPF side walks the entries
 * linearly per aging range, so more would cost every aging event more.
 */
#define KH_IDLE_S_NONE		0
#define KH_IDLE_S_AGED		1	/* a clear or test ran, not young */
#define KH_IDLE_S_YOUNG		2	/* a clear or test found it young */
#define KH_IDLE_PPW		40	/* pages per word: 3^40 < 2^64 < 3^41 */
#define KH_IDLE_SLOTS		64
/* 3^d: BPF adds (new - old) * 3^d to a word; userspace reads digits by division. */
static const __u64 kh_idle_pow3[KH_IDLE_PPW] = {
	1ULL, 3ULL, 9ULL, 27ULL, 81ULL, 243ULL, 729ULL, 2187ULL, 6561ULL, 19683ULL,
	59049ULL, 177147ULL, 531441ULL, 1594323ULL, 4782969ULL, 14348907ULL,
	43046721ULL, 129140163ULL, 387420489ULL, 1162261467ULL, 3486784401ULL,
	10460353203ULL, 31381059609ULL, 94143178827ULL, 282429536481ULL,
	847288609443ULL, 2541865828329ULL, 7625597484987ULL, 22876792454961ULL,
	68630377364883ULL, 205891132094649ULL, 617673396283947ULL,
	1853020188851841ULL, 5559060566555523ULL, 16677181699666569ULL,
	50031545098999707ULL, 150094635296999121ULL, 450283905890997363ULL,
	1350851717672992089ULL, 4052555153018976267ULL
};

struct kh_idle_slot_desc {
	__u64 base_gfn;
	__u64 npages;
	__u32 word_off;		/* in its VM's array: 2^32 words cover 640 TiB */
	__u32 map;		/* idle_bits index of that array */
	__u32 pid;
	__u32 region_off;	/* its 2 MiB regions' states, in the same array */
};
_Static_assert(sizeof(struct kh_idle_slot_desc) == 32, "kh_idle_slot_desc layout");

/* Stash between kvm_mmu_pagetable_walk and its kvm_mmu_paging_element(s). */
struct kh_walk_state {
	__u64 addr;
	__u32 pferr;
	__u32 tid;		/* owner; a stash from another thread is stale */
};
_Static_assert(sizeof(struct kh_walk_state) == 16, "kh_walk_state layout");

/* Streamed records: iterator output and ring-buffer events. */
enum kh_rec_type {
	KH_REC_VM = 1,
	KH_REC_SLOT = 2,
	KH_REC_ITER_ERR = 3,
	KH_REC_EVENT = 4,
};

struct kh_rec_hdr {
	__u16 type;
	__u16 size;		/* whole record, header included */
	__u32 _pad;
};
_Static_assert(sizeof(struct kh_rec_hdr) == 8, "kh_rec_hdr layout");

struct kh_vm_rec {
	struct kh_rec_hdr hdr;
	__u64 kvm;		/* struct kvm *, the VM's identity in the kernel */
	__u32 pid;		/* tgid of the process holding the kvm-vm fd */
	__u32 fd;
	__u32 nr_vcpus;		/* online vCPUs */
	__u32 nr_as;		/* address spaces walked */
	char comm[16];
};
_Static_assert(sizeof(struct kh_vm_rec) == 48, "kh_vm_rec layout");

struct kh_slot_rec {
	struct kh_rec_hdr hdr;
	__u64 kvm;
	__u64 base_gfn;
	__u64 npages;
	__u64 hva;
	__u32 pid;
	__u16 id;
	__u16 as_id;
	__u32 flags;		/* KVM_MEM_* */
	__u32 _pad;
};
_Static_assert(sizeof(struct kh_slot_rec) == 56, "kh_slot_rec layout");

/* The iterator could not walk a VM's memslots (unknown layout, too many). */
struct kh_iter_err_rec {
	struct kh_rec_hdr hdr;
	__u64 kvm;
	__u32 pid;
	__u32 code;		/* KH_ITER_E_* */
};
_Static_assert(sizeof(struct kh_iter_err_rec) == 24, "kh_iter_err_rec layout");

/* What a traced event was. */
enum kh_ev_kind {
	KH_EV_READ = 1,		/* guest walk for a read */
	KH_EV_WRITE = 2,	/* guest walk for a write */
	KH_EV_FETCH = 3,	/* guest walk for an instruction fetch */
	KH_EV_FAULT = 4,	/* TDP fault (flags: KH_EVF_WRITE) */
	KH_EV_TRACK = 5,	/* write to a write-tracked page */
	KH_EV_SPP = 6,		/* SPP violation */
	KH_EV_AGED = 7,		/* aging checked the range, result unknown/old */
	KH_EV_YOUNG = 8,	/* aging found the range accessed */
};

#define KH_EVF_WRITE		(1U << 0)
#define KH_GPA_UNKNOWN		(~0ULL)
#define KH_VCPU_UNKNOWN		(~0U)

/*
 * One event from the ring buffer (record --events, trace).  Addresses,
 * sizes and counts only: guest memory contents are never read.
 */
struct kh_event {
	struct kh_rec_hdr hdr;	/* KH_REC_EVENT */
	__u64 ts_ns;		/* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 gpa;		/* byte address, KH_GPA_UNKNOWN if the hook has none */
	__u64 _reserved;	/* 0; was "rip", which no hook gives cheaply (on VMX the
				 * saved rip is read lazily from the VMCS, so a copy in
				 * struct kvm_vcpu can be stale): kept for the layout of
				 * recordings, never shown */
	__u32 pid;		/* VMM tgid */
	__u32 tid;		/* thread that ran the hook (a vCPU thread for most) */
	__u32 vcpu;		/* vcpu_id, KH_VCPU_UNKNOWN where the hook has none */
	__u32 bytes;		/* write length; pages for aging ranges; 1 for walks */
	__u16 source;		/* enum kh_source */
	__u16 kind;		/* enum kh_ev_kind */
	__u32 flags;		/* KH_EVF_* */
};
_Static_assert(sizeof(struct kh_event) == 56, "kh_event layout");

#define KH_ITER_E_LAYOUT	1	/* neither tree nor array memslots */
#define KH_ITER_E_TOO_MANY	2	/* more than KH_MAX_SLOTS_PER_VM */

/* x86 guest paging facts used by the walk handler (SDM vol. 3, 4.5). */
#define KH_PFERR_PRESENT	(1U << 0)
#define KH_PFERR_WRITE		(1U << 1)
#define KH_PFERR_USER		(1U << 2)
#define KH_PFERR_FETCH		(1U << 4)
#define KH_PTE_PS		(1ULL << 7)
#define KH_PTE_ADDR_MASK	0x000ffffffffff000ULL

#endif /* KVMHEAT_H */
