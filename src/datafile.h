/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * kvmheat recordings (`record`, `report`, `heatmap`): the on-disk format,
 * the chunk writer and the reader.  docs/FORMAT.md is the specification;
 * this header is its C form.  The reader takes a byte buffer and never
 * trusts it, so a fuzzer can drive kh_df_read_mem() directly.
 *
 * All integers are little-endian.  Records start with struct kh_rec_hdr
 * ({type, size}) like every other kvmheat record, so the ring buffer's
 * struct kh_event (KH_REC_EVENT) is stored as it arrives.
 */
#ifndef KH_DATAFILE_H
#define KH_DATAFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "vms.h"
#include "coarse.h"

#define KH_DF_MAGIC		"KVMHEAT\x1a"
#define KH_DF_MAJOR		1
#define KH_DF_MINOR		2
#define KH_DF_CHUNK_MAGIC	0x4b43484bU	/* "KHCK" */
/* Bounds the reader enforces before allocating anything. */
#define KH_DF_MAX_RAW		(16U << 20)
#define KH_DF_CHUNK_TARGET	(256U << 10)

struct kh_df_filehdr {
	char magic[8];
	uint16_t major;
	uint16_t minor;
	uint32_t hdr_size;	/* bytes of this header; the first chunk follows */
	uint32_t flags;		/* none defined */
	uint32_t crc;		/* crc32 of the bytes before this field */
};
_Static_assert(sizeof(struct kh_df_filehdr) == 24, "kh_df_filehdr layout");

struct kh_df_chunk {
	uint32_t magic;		/* KH_DF_CHUNK_MAGIC */
	uint32_t seq;		/* 0, 1, 2, ... */
	uint32_t raw_len;	/* bytes of records after inflating */
	uint32_t comp_len;	/* bytes of zlib stream that follow */
	uint32_t data_crc;	/* crc32 of those comp_len bytes */
	uint32_t hdr_crc;	/* crc32 of the five fields above */
};
_Static_assert(sizeof(struct kh_df_chunk) == 24, "kh_df_chunk layout");

/* Record types of the file; KH_REC_EVENT (struct kh_event) is stored too. */
enum kh_df_type {
	KH_DF_HEADER = 0x100,	/* JSON object: host, kernel, version, cmdline, clock */
	KH_DF_SOURCE = 0x101,	/* an event source and its attach method */
	KH_DF_VM = 0x102,	/* a VM appeared (or its memslots changed) */
	KH_DF_VM_EXIT = 0x103,	/* a VM exited */
	KH_DF_EPOCH = 0x110,	/* an epoch snapshot starts; GFNS/SUBPAGES follow */
	KH_DF_GFNS = 0x111,	/* per-gfn count deltas of the current epoch */
	KH_DF_SUBPAGES = 0x112,	/* per-gfn sub-page write count deltas */
	KH_DF_STATS = 0x120,	/* cumulative per-source BPF counters */
	KH_DF_LOST = 0x121,	/* events lost by one source since its last LOST */
	KH_DF_NOTE = 0x130,	/* 1.1: text the recorder wants every reader to show */
	KH_DF_REGIONS = 0x113,	/* 1.1: per-region coarse (huge-range) aging deltas */
	KH_DF_IDLE_SCAN = 0x114,	/* 1.2: one VM's idle ages after an active-aging scan */
	KH_DF_IDLE_RUNS = 0x115,	/* 1.2: runs of equal idle age of that scan */
	KH_DF_FOOTER = 0x1ff,	/* clean finish */
};

#define KH_DFS_REQUESTED	(1U << 0)
#define KH_DFS_AVAILABLE	(1U << 1)

struct kh_df_source {
	struct kh_rec_hdr hdr;
	uint16_t source;	/* enum kh_source */
	uint16_t flags;		/* KH_DFS_* */
	uint32_t _pad;
	/* then a NUL-terminated attach description, "tp_btf:kvm_age_hva,..." */
};
_Static_assert(sizeof(struct kh_df_source) == 16, "kh_df_source layout");

#define KH_DFV_INITIAL		(1U << 0)	/* running when recording started */
#define KH_DFV_UNDISCOVERED	(1U << 1)	/* seen only through its counts */

/* A VM record's memslots are struct kh_slot (vms.h) as they are: 32 bytes each. */

struct kh_df_vm {
	struct kh_rec_hdr hdr;
	uint64_t t_ns;
	uint64_t kvm;
	uint32_t pid;
	uint32_t nr_vcpus;
	char comm[16];
	uint16_t nr_slots;
	uint16_t slot_size;	/* bytes per struct kh_slot that follows */
	uint32_t flags;		/* KH_DFV_* */
};
_Static_assert(sizeof(struct kh_df_vm) == 56, "kh_df_vm layout");

/*
 * Since 1.1: the VM's name and uuid, after the slots.  1.0 readers take
 * nr_slots slots and ignore what follows, so older kvmheat reads these
 * files unchanged.  Both strings are NUL-padded; readers sanitise them again.
 */
struct kh_df_vm_ident {
	char name[72];		/* at most KH_NAME_MAX bytes, then NULs */
	char uuid[40];		/* "" or 36 characters, then NULs */
	uint8_t name_source;	/* enum kh_name_src */
	uint8_t _pad[7];
};
_Static_assert(sizeof(struct kh_df_vm_ident) == 120, "kh_df_vm_ident layout");

struct kh_df_vm_exit {
	struct kh_rec_hdr hdr;
	uint64_t t_ns;
	uint64_t kvm;
	uint32_t pid;
	uint32_t _pad;
};
_Static_assert(sizeof(struct kh_df_vm_exit) == 32, "kh_df_vm_exit layout");

struct kh_df_epoch {
	struct kh_rec_hdr hdr;
	uint64_t t_start_ns;
	uint64_t t_end_ns;
	uint32_t index;
	uint32_t flags;
	uint64_t nr_gfns;	/* entries in the GFNS records that follow */
	uint64_t nr_subpages;	/* entries in the SUBPAGES records that follow */
};
_Static_assert(sizeof(struct kh_df_epoch) == 48, "kh_df_epoch layout");

/* Entry of a GFNS record: counters are this epoch's deltas. */
struct kh_df_gfn {
	uint64_t gfn;
	struct kh_counts d;
};
_Static_assert(sizeof(struct kh_df_gfn) == 72, "kh_df_gfn layout");

/* GFNS and SUBPAGES: one VM's entries, n of ent_size bytes each. */
struct kh_df_batch {
	struct kh_rec_hdr hdr;
	uint32_t pid;
	uint16_t n;
	uint16_t ent_size;
};
_Static_assert(sizeof(struct kh_df_batch) == 16, "kh_df_batch layout");

struct kh_df_subpage {
	uint64_t gfn;
	uint32_t cnt[KH_SUBPAGES];
};
_Static_assert(sizeof(struct kh_df_subpage) == 136, "kh_df_subpage layout");

/*
 * Entry of a REGIONS record (1.1): a 2 MiB region that saw aging of ranges
 * longer than KH_AGE_GFN_MAX pages, this epoch's deltas.  Only such regions
 * are written.  @aged counts every aging check of the region (coarse ones
 * once each), so aged == coarse_aged means it was seen only coarsely.
 */
struct kh_df_region {
	uint64_t idx;		/* gfn >> KH_REGION_SHIFT */
	uint64_t aged;
	uint64_t coarse_aged;
	uint64_t coarse_young;
	uint64_t coarse_pages;	/* the longest such range so far (not a delta) */
};
_Static_assert(sizeof(struct kh_df_region) == 40, "kh_df_region layout");

/*
 * IDLE_SCAN (1.2): after scan @scan of VM @pid by an aging driver, the
 * IDLE_RUNS records that follow (same pid) hold its pages of known idle
 * age, @nr_runs runs in all.  Unknown pages (never aged) are not written.
 */
#define KH_DFI_SAMPLED	(1U << 0)	/* the driver samples (DAMON): not every page aged */

struct kh_df_idle_scan {
	struct kh_rec_hdr hdr;
	uint64_t t_ns;
	uint32_t pid;
	uint32_t scan;		/* this VM's scans so far: 1, 2, ... */
	uint16_t driver;	/* 0 page_idle, 1 mglru, 2 damon (enum kh_agedrv_id) */
	uint16_t flags;		/* KH_DFI_* */
	uint32_t interval_ms;	/* between scans: the unit of an age */
	uint64_t nr_runs;
};
_Static_assert(sizeof(struct kh_df_idle_scan) == 40, "kh_df_idle_scan layout");

/* Entry of an IDLE_RUNS record (a kh_df_batch): ascending, never overlapping. */
struct kh_df_idle_run {
	uint64_t gfn;		/* first page */
	uint32_t npages;
	uint8_t age;		/* scans in a row found not young, 0..253 (KH_IDLE_MAX) */
	uint8_t _pad[3];
};
_Static_assert(sizeof(struct kh_df_idle_run) == 16, "kh_df_idle_run layout");

struct kh_df_stats {
	struct kh_rec_hdr hdr;
	uint64_t t_ns;
	uint16_t nr_src;
	uint16_t nr_stat;
	uint32_t _pad;
	/* then uint64_t v[nr_src][nr_stat], cumulative since the start */
};
_Static_assert(sizeof(struct kh_df_stats) == 24, "kh_df_stats layout");

struct kh_df_lost {
	struct kh_rec_hdr hdr;
	uint64_t t_ns;
	uint16_t source;	/* enum kh_source */
	uint16_t stat;		/* enum kh_stat: LOST, MAP_FULL or WALK_LOST */
	uint32_t _pad;
	uint64_t lost;		/* since this source's previous LOST of this stat */
	uint64_t total;		/* since the start */
};
_Static_assert(sizeof(struct kh_df_lost) == 40, "kh_df_lost layout");

enum kh_df_end {
	KH_END_DURATION = 1,	/* -d elapsed */
	KH_END_SIGNAL = 2,	/* SIGINT / SIGTERM */
	KH_END_COMMAND = 3,	/* the recorded command exited */
	KH_END_VM_EXIT = 4,	/* every VM given by -p exited */
	KH_END_ERROR = 5,	/* stopped on an error (e.g. disk full) */
};

struct kh_df_footer {
	struct kh_rec_hdr hdr;
	uint64_t t_ns;
	uint64_t nr_epochs;
	uint64_t nr_events;
	uint32_t nr_chunks;	/* chunks before the one holding this footer */
	int32_t cmd_status;	/* wait status of COMMAND, -1 if none */
	uint32_t reason;	/* enum kh_df_end */
	uint32_t _pad;
};
_Static_assert(sizeof(struct kh_df_footer) == 48, "kh_df_footer layout");

/* ---- writer ---- */
struct kh_dw {
	int fd;
	char *path;		/* final name; NULL when writing to a given fd */
	char *tmp;		/* temp name until kh_dw_commit() renames it */
	uint8_t *buf;		/* records of the chunk being built */
	size_t len, cap;
	uint8_t *zbuf;
	size_t zcap;
	uint32_t seq;		/* chunks written */
	uint64_t off;		/* bytes written */
	uint64_t raw_bytes;	/* record bytes before compression */
	uint64_t nr_events, nr_epochs;
	size_t chunk_target;
	int level;		/* zlib level */
	bool fsync;
	int err;		/* first write error (negative errno); sticky */
};

int kh_dw_create(struct kh_dw *w, const char *path);
int kh_dw_fdopen(struct kh_dw *w, int fd);
int kh_dw_commit(struct kh_dw *w, bool rotate);
int kh_dw_add(struct kh_dw *w, uint16_t type, const void *rec, size_t size);
int kh_dw_flush(struct kh_dw *w);
int kh_dw_close(struct kh_dw *w);
void kh_dw_abort(struct kh_dw *w);

int kh_dw_header(struct kh_dw *w, json_t *hdr);
int kh_dw_source(struct kh_dw *w, int src, uint16_t flags, const char *desc);
int kh_dw_vm(struct kh_dw *w, uint64_t t_ns, uint64_t kvm, uint32_t pid, uint32_t nr_vcpus,
	     const char *comm, const struct kh_slot *slots, size_t nr_slots, uint32_t flags);
/* kh_dw_vm with the VM's name and uuid (@id NULL: none known). */
int kh_dw_vm_id(struct kh_dw *w, uint64_t t_ns, uint64_t kvm, uint32_t pid, uint32_t nr_vcpus,
		const char *comm, const struct kh_vm_ident *id, const struct kh_slot *slots,
		size_t nr_slots, uint32_t flags);
int kh_dw_vm_exit(struct kh_dw *w, uint64_t t_ns, uint64_t kvm, uint32_t pid);
int kh_dw_epoch(struct kh_dw *w, uint32_t index, uint64_t t0, uint64_t t1, uint64_t nr_gfns,
		uint64_t nr_subpages);
/*
 * Entries of type KH_DF_GFNS, KH_DF_SUBPAGES or KH_DF_REGIONS whose owners
 * are @pids[i], grouped into one batch record per run of the same pid.
 */
int kh_dw_batches(struct kh_dw *w, uint16_t type, const uint32_t *pids, const void *ents,
		  size_t ent_size, size_t n);
int kh_dw_gfns(struct kh_dw *w, uint32_t pid, const struct kh_df_gfn *g, size_t n);
int kh_dw_subpages(struct kh_dw *w, uint32_t pid, const struct kh_df_subpage *s, size_t n);
int kh_dw_regions(struct kh_dw *w, uint32_t pid, const struct kh_df_region *v, size_t n);
/* One scan's idle ages: an IDLE_SCAN and the runs of @st (idle.h). */
struct kh_idle;
int kh_dw_idle(struct kh_dw *w, uint64_t t_ns, const struct kh_idle *st, int driver,
	       uint16_t flags, uint32_t interval_ms);
struct kh_rd_idle;
/* A scan as read (@s: pid, time, scan, driver, flags, interval) with @n runs. */
int kh_dw_idle_scan(struct kh_dw *w, const struct kh_rd_idle *s, const struct kh_df_idle_run *runs,
		    size_t n);
int kh_dw_event(struct kh_dw *w, const struct kh_event *e);
int kh_dw_stats(struct kh_dw *w, uint64_t t_ns, const uint64_t v[KH_NR_STATS]);
int kh_dw_lost(struct kh_dw *w, uint64_t t_ns, int src, int stat, uint64_t lost,
	       uint64_t total);
/* A note (at most 1 KiB of text) that readers show among their notes. */
int kh_dw_note(struct kh_dw *w, const char *text);
int kh_dw_footer(struct kh_dw *w, uint64_t t_ns, int32_t cmd_status, uint32_t reason);

/* ---- reader ---- */
struct kh_rd_vm {
	uint32_t pid;
	uint32_t nr_vcpus;
	uint64_t kvm;
	char comm[17];
	struct kh_vm_ident ident;	/* source KH_NAME_NONE: the file has none */
	uint32_t flags;		/* KH_DFV_* of the first record */
	uint64_t t_appear, t_exit;	/* t_exit 0: did not exit while recorded */
	size_t nr_slots, slots_cap;	/* every as_id 0/1 slot seen, newest first wins */
	struct kh_slot *slots;
};

struct kh_rd_epoch {
	uint32_t index;
	uint64_t t0, t1;
	uint64_t want_gfns, want_subpages;
	size_t first_gfn, nr_gfns;	/* into kh_recording.gfns */
	size_t first_sub, nr_subs;	/* into kh_recording.subs */
	/* records tagged with this epoch: appended in file order, so contiguous */
	size_t first_region, nr_regions;	/* into kh_recording.regions */
	size_t first_idle, nr_idle;		/* into kh_recording.idle */
};

struct kh_rd_gfn {
	uint64_t gfn;
	uint32_t pid;
	uint32_t epoch;		/* index into kh_recording.epochs */
	struct kh_counts d;
};

struct kh_rd_sub {
	uint64_t gfn;
	uint32_t pid;
	uint32_t epoch;
	uint32_t cnt[KH_SUBPAGES];
};

struct kh_rd_region {
	uint32_t pid;
	uint32_t epoch;
	struct kh_df_region d;
};

struct kh_rd_idle {
	uint32_t pid;
	uint32_t epoch;		/* the epoch it was taken in */
	uint64_t t_ns;
	uint32_t scan;
	uint16_t driver, flags;
	uint32_t interval_ms;
	uint64_t want_runs;
	size_t first_run, nr_runs;	/* into kh_recording.idle_runs */
};

struct kh_rd_source {
	bool present;
	uint16_t flags;		/* KH_DFS_* */
	char desc[256];
};

struct kh_rd_lost {
	uint64_t t_ns;
	uint16_t source, stat;
	uint64_t lost, total;
};

/* What kh_df_read_mem() should keep. */
#define KH_RD_EVENTS		(1U << 0)

struct kh_recording {
	uint16_t major, minor;
	json_t *header;			/* NULL if its chunk was lost */
	struct kh_rd_source sources[KH_SRC_MAX];
	struct kh_rd_vm *vms;
	size_t nr_vms;
	struct kh_rd_epoch *epochs;
	size_t nr_epochs;
	struct kh_rd_gfn *gfns;
	size_t nr_gfns;
	struct kh_rd_sub *subs;
	size_t nr_subs;
	struct kh_rd_region *regions;	/* coarse aging (1.1 REGIONS records) */
	size_t nr_regions;
	struct kh_rd_idle *idle;	/* active-aging scans (1.2), in file order */
	size_t nr_idle;
	struct kh_df_idle_run *idle_runs;
	size_t nr_idle_runs;
	struct kh_event *events;	/* only with KH_RD_EVENTS */
	size_t nr_events;		/* counted either way */
	struct kh_rd_lost *lost;
	size_t nr_lost;
	bool has_stats;
	uint64_t stats[KH_NR_STATS];	/* the last STATS record */
	bool has_footer;
	struct kh_df_footer footer;
	uint64_t t_start;		/* header's start_ns, else the first time seen */
	uint64_t size;			/* bytes given */
	uint32_t chunks_ok, chunks_bad;
	bool cut;			/* ends inside a chunk */
	uint64_t cut_at;		/* where the last complete chunk ends */
	uint64_t unknown_records;
	char **notes;			/* what a reader of this file must be told */
	size_t nr_notes;
};

int kh_df_read_mem(const void *buf, size_t len, unsigned int flags, struct kh_recording *r,
		   char *why, size_t whylen);
int kh_df_read_file(const char *path, unsigned int flags, struct kh_recording *r, char *why,
		    size_t whylen);
void kh_rd_free(struct kh_recording *r);
struct kh_rd_vm *kh_rd_find_vm(struct kh_recording *r, uint32_t pid);
int kh_rd_pid_by_name(const struct kh_recording *r, const char *name, uint32_t *pid, char *why,
		       size_t whylen);

/* ---- views shared by report and heatmap ---- */
struct kh_rd_filter {
	uint32_t pid;			/* 0: all */
	uint64_t gfn_lo, gfn_hi;	/* inclusive; lo > hi: none */
	bool time_set;
	double t0, t1;			/* seconds since the start */
};

void kh_rd_filter_init(struct kh_rd_filter *f);
bool kh_rd_epoch_wanted(const struct kh_recording *r, const struct kh_rd_filter *f, size_t e);
bool kh_rd_gfn_wanted(const struct kh_rd_filter *f, uint32_t pid, uint64_t gfn);
double kh_rd_secs(const struct kh_recording *r, uint64_t t_ns);
/* Per (pid, gfn) totals over the wanted epochs, sorted by pid then gfn. */
int kh_rd_totals(const struct kh_recording *r, const struct kh_rd_filter *f, struct kh_gfn_stat **out,
		  size_t *n);
/* qsort/bsearch order of struct kh_rd_region: pid, then region. */
int kh_rd_region_cmp(const void *a, const void *b);
/* Coarse aging of @pid (0: all) over the wanted epochs (coarse.h). */
void kh_rd_coarse(const struct kh_recording *r, const struct kh_rd_filter *f, uint32_t pid,
		   struct kh_coarse *c);

/*
 * The last idle scan of @pid (0: any VM) that the filter's epochs hold, or
 * NULL.  @pid 0 picks the VM of the file's last scan.
 */
const struct kh_rd_idle *kh_rd_idle_last(const struct kh_recording *r, const struct kh_rd_filter *f,
					 uint32_t pid);
/* Pages of run @i of scan @s inside the filter's gfn range (0: none). */
uint64_t kh_rd_idle_clip(const struct kh_recording *r, const struct kh_rd_filter *f,
			 const struct kh_rd_idle *s, size_t i, uint64_t *first);

#endif /* KH_DATAFILE_H */
