// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Recordings without KVM: a synthetic recording written with the chunk
 * writer is read back field by field; cut at every byte, damaged, or
 * extended by a newer writer, it must still be read as far as it is
 * whole, with a note saying what happened.  `kvmheat report` output for
 * it is compared with tests/golden/ (KH_GOLDEN_UPDATE=1 rewrites them),
 * and subset export and the heatmap outputs are checked structurally.
 */
#define _GNU_SOURCE
#include "khtest.h"
#include "khlive.h"
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <expat.h>
#include <png.h>
#include <zlib.h>
#include "datafile.h"

#define T0	1000000000ULL		/* the synthetic recording's start_ns */
#define MS	1000000ULL

/* Where each chunk ended and what had been written by then. */
struct bound {
	uint64_t off;
	size_t epochs, events;
};

struct synth {
	struct bound b[32];
	size_t nb;
	size_t epochs, events;
};

static void mark(struct kh_dw *w, struct synth *s)
{
	assert_int_equal(kh_dw_flush(w), 0);
	s->b[s->nb++] = (struct bound){ w->off, s->epochs, s->events };
}

static struct kh_df_gfn G(uint64_t gfn, uint64_t acc, uint64_t wr, uint32_t mask, uint64_t aged)
{
	struct kh_df_gfn g = { .gfn = gfn };

	g.d.accesses = acc;
	g.d.writes = wr;
	g.d.subpage_mask = mask;
	g.d.aged = aged;
	return g;
}

static void ev(struct kh_dw *w, struct synth *s, uint64_t t, uint32_t pid, uint64_t gpa,
	       uint16_t kind, bool write)
{
	struct kh_event e = {
		.ts_ns = t, .gpa = gpa, .pid = pid, .tid = pid + 1, .vcpu = KH_VCPU_UNKNOWN,
		.bytes = 1, .source = KH_SRC_WALK, .kind = kind, .flags = write ? KH_EVF_WRITE : 0,
	};

	assert_int_equal(kh_dw_event(w, &e), 0);
	s->events++;
}

/*
 * Two VMs: 100 runs throughout, 200 appears at 150 ms and exits at 350 ms.
 * Four 100 ms epochs, one chunk each (as record writes them).
 */
static void synth_write(struct kh_dw *w, struct synth *s, bool footer)
{
	static const struct kh_slot a_slots[] = {
		{ .base_gfn = 0, .npages = 256, .hva = 0x7f0000000000, .id = 0 },
		{ .base_gfn = 0x40000, .npages = 1024, .hva = 0x7f1000000000, .id = 1 },
	};
	static const struct kh_slot b_slots[] = {
		{ .base_gfn = 0x100000, .npages = 512, .hva = 0x7f2000000000, .id = 0 },
	};
	struct kh_df_gfn g[8];
	struct kh_df_subpage sp[2];
	uint64_t st[KH_NR_STATS] = {};
	json_t *h;

	memset(s, 0, sizeof(*s));
	h = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[s,s,s,s], s:s, s:I, s:s, s:i, s:b}",
		      "format", "kvmheat recording", "format_version", "1.0",
		      "kvmheat_version", "test", "host", "synthhost", "kernel", "6.1.0-test",
		      "cmdline", "kvmheat", "record", "-F", "100", "clock", "CLOCK_MONOTONIC",
		      "start_ns", (json_int_t)T0, "start_time", "2026-01-01T00:00:00Z",
		      "interval_ms", 100, "events", 1);
	assert_int_equal(kh_dw_header(w, h), 0);
	json_decref(h);
	assert_int_equal(kh_dw_source(w, KH_SRC_AGING, KH_DFS_REQUESTED | KH_DFS_AVAILABLE,
				      "tp_btf:kvm_age_hva"), 0);
	assert_int_equal(kh_dw_source(w, KH_SRC_TRACK, KH_DFS_REQUESTED, "unavailable"), 0);
	assert_int_equal(kh_dw_source(w, KH_SRC_WALK, KH_DFS_REQUESTED | KH_DFS_AVAILABLE,
				      "tp_btf:kvm_mmu_pagetable_walk"), 0);
	assert_int_equal(kh_dw_vm(w, T0, 0xffff888000001000, 100, 2, "vmA", a_slots, 2,
				  KH_DFV_INITIAL), 0);
	mark(w, s);

	/* epoch 0 */
	ev(w, s, T0 + 20 * MS, 100, 0x40000000 + 5, KH_EV_WRITE, true);
	ev(w, s, T0 + 30 * MS, 100, 0x40001000, KH_EV_READ, false);
	assert_int_equal(kh_dw_epoch(w, 0, T0, T0 + 100 * MS, 3, 1), 0);
	s->epochs++;
	g[0] = G(0x10, 3, 0, 0, 0);
	g[1] = G(0x40000, 10, 2, 0x1, 0);
	g[2] = G(0x40001, 5, 0, 0, 0);
	assert_int_equal(kh_dw_gfns(w, 100, g, 3), 0);
	memset(sp, 0, sizeof(sp));
	sp[0].gfn = 0x40000;
	sp[0].cnt[0] = 2;
	assert_int_equal(kh_dw_subpages(w, 100, sp, 1), 0);
	st[KH_SRC_WALK * KH_STAT_MAX + KH_STAT_EVENTS] = 18;
	st[KH_SRC_WALK * KH_STAT_MAX + KH_STAT_COUNTED] = 18;
	assert_int_equal(kh_dw_stats(w, T0 + 100 * MS, st), 0);
	mark(w, s);

	/* epoch 1: VM 200 appears; the walk source loses 5 events */
	assert_int_equal(kh_dw_vm(w, T0 + 150 * MS, 0xffff888000002000, 200, 1, "vmB", b_slots, 1,
				  0), 0);
	ev(w, s, T0 + 160 * MS, 100, 0x40002000 + 4000, KH_EV_WRITE, true);
	ev(w, s, T0 + 170 * MS, 200, 0x100005000, KH_EV_READ, false);
	assert_int_equal(kh_dw_epoch(w, 1, T0 + 100 * MS, T0 + 200 * MS, 3, 2), 0);
	s->epochs++;
	g[0] = G(0x40000, 10, 2, 0x1, 0);
	g[1] = G(0x40002, 7, 7, 0x80000000, 0);
	assert_int_equal(kh_dw_gfns(w, 100, g, 2), 0);
	g[0] = G(0x100005, 4, 0, 0, 2);
	assert_int_equal(kh_dw_gfns(w, 200, g, 1), 0);
	memset(sp, 0, sizeof(sp));
	sp[0].gfn = 0x40000;
	sp[0].cnt[0] = 2;
	sp[1].gfn = 0x40002;
	sp[1].cnt[31] = 7;
	assert_int_equal(kh_dw_subpages(w, 100, sp, 2), 0);
	st[KH_SRC_WALK * KH_STAT_MAX + KH_STAT_EVENTS] = 45;
	st[KH_SRC_WALK * KH_STAT_MAX + KH_STAT_COUNTED] = 40;
	st[KH_SRC_WALK * KH_STAT_MAX + KH_STAT_LOST] = 5;
	st[KH_SRC_AGING * KH_STAT_MAX + KH_STAT_EVENTS] = 2;
	assert_int_equal(kh_dw_lost(w, T0 + 200 * MS, KH_SRC_WALK, KH_STAT_LOST, 5, 5), 0);
	assert_int_equal(kh_dw_stats(w, T0 + 200 * MS, st), 0);
	mark(w, s);

	/* epoch 2: an idle page of VM 200 is aged */
	assert_int_equal(kh_dw_epoch(w, 2, T0 + 200 * MS, T0 + 300 * MS, 2, 0), 0);
	s->epochs++;
	g[0] = G(0x40000, 10, 0, 0, 0);
	assert_int_equal(kh_dw_gfns(w, 100, g, 1), 0);
	g[0] = G(0x100006, 0, 0, 0, 3);
	assert_int_equal(kh_dw_gfns(w, 200, g, 1), 0);
	st[KH_SRC_AGING * KH_STAT_MAX + KH_STAT_EVENTS] = 5;
	assert_int_equal(kh_dw_stats(w, T0 + 300 * MS, st), 0);
	mark(w, s);

	/* epoch 3: VM 200 has exited */
	assert_int_equal(kh_dw_vm_exit(w, T0 + 350 * MS, 0xffff888000002000, 200), 0);
	ev(w, s, T0 + 360 * MS, 100, 0x40001000 + 129, KH_EV_READ, false);
	assert_int_equal(kh_dw_epoch(w, 3, T0 + 300 * MS, T0 + 400 * MS, 1, 0), 0);
	s->epochs++;
	g[0] = G(0x40001, 1, 0, 0, 1);
	assert_int_equal(kh_dw_gfns(w, 100, g, 1), 0);
	assert_int_equal(kh_dw_stats(w, T0 + 400 * MS, st), 0);
	if (footer)
		assert_int_equal(kh_dw_footer(w, T0 + 400 * MS, 0, KH_END_COMMAND), 0);
	mark(w, s);
}

/* Write the synthetic recording to tmpdir/NAME; returns its bytes. */
static uint8_t *synth_file(const char *name, struct synth *s, bool footer, size_t *len)
{
	char p[256];
	struct kh_dw w;
	struct stat st;
	uint8_t *buf;
	int fd;

	tpath(p, sizeof(p), name);
	assert_int_equal(kh_dw_create(&w, p), 0);
	synth_write(&w, s, footer);
	assert_int_equal(kh_dw_close(&w), 0);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	buf = malloc(st.st_size);
	assert_int_equal(read(fd, buf, st.st_size), st.st_size);
	close(fd);
	*len = st.st_size;
	return buf;
}

static bool has_note(const struct kh_recording *r, const char *needle)
{
	for (size_t i = 0; i < r->nr_notes; i++)
		if (strstr(r->notes[i], needle))
			return true;
	return false;
}

static const struct kh_gfn_stat *find(const struct kh_gfn_stat *g, size_t n, uint32_t pid,
				      uint64_t gfn)
{
	for (size_t i = 0; i < n; i++)
		if (g[i].pid == pid && g[i].gfn == gfn)
			return &g[i];
	return NULL;
}

static void test_roundtrip(void **state)
{
	struct synth s;
	struct kh_recording r;
	struct kh_rd_filter f;
	struct kh_gfn_stat *g;
	const struct kh_gfn_stat *x;
	struct kh_rd_vm *a, *b;
	size_t len, n;
	char why[256], p[256];
	uint8_t *buf = synth_file("rt.data", &s, true, &len);

	tpath(p, sizeof(p), "rt.data");
	assert_int_equal(kh_df_read_file(p, KH_RD_EVENTS, &r, why, sizeof(why)), 0);
	for (size_t i = 0; i < r.nr_notes; i++)
		printf("# note: %s\n", r.notes[i]);
	assert_int_equal(r.nr_notes, 0);
	assert_int_equal(r.major, KH_DF_MAJOR);
	assert_false(r.cut);
	assert_int_equal(r.chunks_ok, s.nb);
	assert_int_equal(r.chunks_bad, 0);
	assert_string_equal(json_string_value(json_object_get(r.header, "host")), "synthhost");
	assert_true(r.t_start == T0);
	assert_true(r.sources[KH_SRC_WALK].present);
	assert_int_equal(r.sources[KH_SRC_WALK].flags, KH_DFS_REQUESTED | KH_DFS_AVAILABLE);
	assert_string_equal(r.sources[KH_SRC_WALK].desc, "tp_btf:kvm_mmu_pagetable_walk");
	assert_int_equal(r.sources[KH_SRC_TRACK].flags, KH_DFS_REQUESTED);
	assert_false(r.sources[KH_SRC_SPP].present);
	/* VMs, memslots, appear and exit times */
	assert_int_equal(r.nr_vms, 2);
	a = kh_rd_find_vm(&r, 100);
	b = kh_rd_find_vm(&r, 200);
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(a->comm, "vmA");
	assert_int_equal(a->nr_vcpus, 2);
	assert_int_equal(a->nr_slots, 2);
	assert_int_equal(a->slots[1].base_gfn, 0x40000);
	assert_int_equal(a->slots[1].npages, 1024);
	assert_int_equal(a->flags, KH_DFV_INITIAL);
	assert_true(a->t_exit == 0);
	assert_true(b->t_appear == T0 + 150 * MS);
	assert_true(b->t_exit == T0 + 350 * MS);
	/* epochs and totals */
	assert_int_equal(r.nr_epochs, 4);
	assert_true(r.epochs[1].t0 == T0 + 100 * MS && r.epochs[1].t1 == T0 + 200 * MS);
	assert_int_equal(r.epochs[1].nr_gfns, 3);
	assert_int_equal(r.epochs[1].nr_subs, 2);
	kh_rd_filter_init(&f);
	assert_int_equal(kh_rd_totals(&r, &f, &g, &n), 0);
	assert_int_equal(n, 6);
	x = find(g, n, 100, 0x40000);
	assert_non_null(x);
	assert_int_equal(x->c.accesses, 30);
	assert_int_equal(x->c.writes, 4);
	assert_int_equal(x->c.subpage_mask, 0x1);
	assert_true(x->has_subpages);
	assert_int_equal(x->sp.cnt[0], 4);
	x = find(g, n, 100, 0x40002);
	assert_int_equal(x->c.subpage_mask, 0x80000000);
	assert_int_equal(x->sp.cnt[31], 7);
	x = find(g, n, 200, 0x100006);
	assert_int_equal(x->c.aged, 3);
	assert_int_equal(x->c.accesses, 0);
	free(g);
	/* a time window takes the epochs overlapping it */
	f.time_set = true;
	f.t0 = 0.1;
	f.t1 = 0.25;
	assert_false(kh_rd_epoch_wanted(&r, &f, 0));
	assert_true(kh_rd_epoch_wanted(&r, &f, 1));
	assert_true(kh_rd_epoch_wanted(&r, &f, 2));
	assert_false(kh_rd_epoch_wanted(&r, &f, 3));
	assert_int_equal(kh_rd_totals(&r, &f, &g, &n), 0);
	assert_int_equal(find(g, n, 100, 0x40000)->c.accesses, 20);
	assert_null(find(g, n, 100, 0x10));
	free(g);
	/* events as they were written */
	assert_int_equal(r.nr_events, s.events);
	assert_true(r.events[2].gpa == 0x40002000 + 4000);
	assert_int_equal(r.events[2].flags, KH_EVF_WRITE);
	assert_int_equal(r.events[2].kind, KH_EV_WRITE);
	/* losses, counters and the footer */
	assert_int_equal(r.nr_lost, 1);
	assert_int_equal(r.lost[0].source, KH_SRC_WALK);
	assert_int_equal(r.lost[0].lost, 5);
	assert_true(r.has_stats);
	assert_int_equal(r.stats[KH_SRC_WALK * KH_STAT_MAX + KH_STAT_LOST], 5);
	assert_int_equal(r.stats[KH_SRC_AGING * KH_STAT_MAX + KH_STAT_EVENTS], 5);
	assert_true(r.has_footer);
	assert_int_equal(r.footer.reason, KH_END_COMMAND);
	assert_int_equal(r.footer.nr_epochs, 4);
	assert_int_equal(r.footer.nr_events, s.events);
	kh_rd_free(&r);
	free(buf);
}

/* Cut at every byte: never a crash, a clear message, every whole chunk read. */
static void test_truncated_at_every_byte(void **state)
{
	struct synth s;
	size_t len;
	uint8_t *buf = synth_file("cut.data", &s, true, &len);
	size_t errors = 0, cuts = 0;

	printf("# %zu bytes, %zu chunks\n", len, s.nb);
	assert_true(s.b[s.nb - 1].off == len);
	for (size_t l = 0; l < len; l++) {
		uint8_t *copy = malloc(l ? l : 1);	/* exact size: overreads would show */
		struct kh_recording r;
		char why[256] = "";
		size_t whole = 0;
		int err;

		memcpy(copy, buf, l);
		err = kh_df_read_mem(copy, l, KH_RD_EVENTS, &r, why, sizeof(why));
		if (l < sizeof(struct kh_df_filehdr)) {
			assert_int_not_equal(err, 0);
			assert_non_null(strstr(why, l < 8 ? "" : "cut at byte"));
			assert_true(strlen(why) > 10);
			errors++;
			free(copy);
			continue;
		}
		assert_int_equal(err, 0);
		while (whole < s.nb && s.b[whole].off <= l)
			whole++;
		assert_int_equal(r.chunks_ok, whole);
		assert_int_equal(r.chunks_bad, 0);
		assert_int_equal(r.nr_epochs, whole ? s.b[whole - 1].epochs : 0);
		assert_int_equal(r.nr_events, whole ? s.b[whole - 1].events : 0);
		assert_false(r.has_footer);
		assert_true(has_note(&r, "did not finish cleanly"));
		if (whole && s.b[whole - 1].off == l) {
			assert_false(r.cut);
		} else if (l > sizeof(struct kh_df_filehdr)) {
			char at[48];

			snprintf(at, sizeof(at), "file cut at byte %zu", l);
			assert_true(r.cut);
			assert_true(has_note(&r, at));
			cuts++;
		}
		kh_rd_free(&r);
		free(copy);
	}
	printf("# %zu lengths refused (header incomplete), %zu cut inside a chunk\n", errors, cuts);
	free(buf);
}

static size_t chunk_off(const struct synth *s, size_t k)
{
	return k ? s->b[k - 1].off : sizeof(struct kh_df_filehdr);
}

static void test_corrupt_checksums(void **state)
{
	struct synth s;
	struct kh_recording r;
	size_t len;
	uint8_t *buf = synth_file("bad.data", &s, true, &len);
	char why[256];
	size_t c2 = chunk_off(&s, 2), c3 = chunk_off(&s, 3);

	/* a flipped payload byte in chunk 2 (epoch 1): that chunk alone is lost */
	buf[c2 + sizeof(struct kh_df_chunk) + 3] ^= 0x40;
	assert_int_equal(kh_df_read_mem(buf, len, 0, &r, why, sizeof(why)), 0);
	assert_int_equal(r.chunks_bad, 1);
	assert_int_equal(r.chunks_ok, s.nb - 1);
	assert_true(has_note(&r, "chunk 2 at byte"));
	assert_true(has_note(&r, "checksum mismatch"));
	assert_int_equal(r.nr_epochs, 3);
	assert_int_equal(r.epochs[1].index, 2);
	assert_true(r.has_footer);
	kh_rd_free(&r);
	buf[c2 + sizeof(struct kh_df_chunk) + 3] ^= 0x40;

	/* a damaged length in chunk 3's header: skip to the next valid header */
	buf[c3 + offsetof(struct kh_df_chunk, comp_len)] ^= 0x11;
	assert_int_equal(kh_df_read_mem(buf, len, 0, &r, why, sizeof(why)), 0);
	assert_int_equal(r.chunks_bad, 1);
	assert_int_equal(r.chunks_ok, s.nb - 1);
	assert_true(has_note(&r, "damaged chunk header"));
	assert_int_equal(r.nr_epochs, 3);
	assert_int_equal(r.epochs[2].index, 3);
	kh_rd_free(&r);
	buf[c3 + offsetof(struct kh_df_chunk, comp_len)] ^= 0x11;

	/* a damaged file header is refused */
	buf[9] ^= 1;
	assert_int_not_equal(kh_df_read_mem(buf, len, 0, &r, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "file header"));
	free(buf);
}

static void patch_filehdr(uint8_t *buf, uint16_t major, uint16_t minor)
{
	struct kh_df_filehdr h;

	memcpy(&h, buf, sizeof(h));
	h.major = major;
	h.minor = minor;
	h.crc = crc32(0, (const Bytef *)&h, offsetof(struct kh_df_filehdr, crc));
	memcpy(buf, &h, sizeof(h));
}

/* What a newer minor version may add: record types and longer records. */
static void test_unknown_records_skipped(void **state)
{
	struct {
		struct kh_df_epoch e;
		uint64_t future[3];
	} big = { .e = { .index = 7, .t_start_ns = T0, .t_end_ns = T0 + MS, .nr_gfns = 1 },
		  .future = { 1, 2, 3 } };
	struct {
		struct kh_rec_hdr h;
		uint8_t payload[40];
	} unk;
	struct {
		struct kh_df_batch b;
		struct {
			struct kh_df_gfn g;
			uint64_t future;
		} e;
	} wide = { .b = { .pid = 9, .n = 1, .ent_size = sizeof(wide.e) } };
	char p[256], why[256];
	struct kh_dw w;
	struct kh_recording r;
	int fd;

	memset(&unk, 0x5a, sizeof(unk));
	wide.e.g = G(0x1234, 6, 1, 0x4, 0);
	tpath(p, sizeof(p), "newer.data");
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(kh_dw_fdopen(&w, fd), 0);
	assert_int_equal(kh_dw_add(&w, 0x7777, &unk, sizeof(unk)), 0);
	assert_int_equal(kh_dw_add(&w, KH_DF_EPOCH, &big, sizeof(big)), 0);
	assert_int_equal(kh_dw_add(&w, KH_DF_GFNS, &wide, sizeof(wide)), 0);
	assert_int_equal(kh_dw_add(&w, 0x7778, &unk, sizeof(unk.h)), 0);
	assert_int_equal(kh_dw_footer(&w, T0 + MS, -1, KH_END_SIGNAL), 0);
	assert_int_equal(kh_dw_flush(&w), 0);
	{
		uint8_t hb[sizeof(struct kh_df_filehdr)];

		assert_int_equal(pread(fd, hb, sizeof(hb), 0), sizeof(hb));
		patch_filehdr(hb, KH_DF_MAJOR, KH_DF_MINOR + 5);
		assert_int_equal(pwrite(fd, hb, sizeof(hb), 0), sizeof(hb));
	}
	close(fd);
	free(w.buf);
	free(w.zbuf);
	assert_int_equal(kh_df_read_file(p, 0, &r, why, sizeof(why)), 0);
	assert_int_equal(r.minor, KH_DF_MINOR + 5);
	assert_int_equal(r.unknown_records, 2);
	assert_true(has_note(&r, "0x7777"));
	assert_int_equal(r.nr_epochs, 1);
	assert_int_equal(r.epochs[0].index, 7);
	assert_int_equal(r.nr_gfns, 1);
	assert_int_equal(r.gfns[0].gfn, 0x1234);
	assert_int_equal(r.gfns[0].pid, 9);
	assert_int_equal(r.gfns[0].d.accesses, 6);
	assert_int_equal(r.gfns[0].d.subpage_mask, 0x4);
	assert_true(r.has_footer);
	kh_rd_free(&r);
}

static void test_refuses_other_files(void **state)
{
	struct synth s;
	struct kh_recording r;
	size_t len;
	uint8_t *buf = synth_file("major.data", &s, true, &len);
	char why[256], p[256];
	const char junk[] = "PERFILE2 this is not ours";
	int fd;

	patch_filehdr(buf, KH_DF_MAJOR + 1, 0);
	assert_int_equal(kh_df_read_mem(buf, len, 0, &r, why, sizeof(why)), -EPROTONOSUPPORT);
	assert_non_null(strstr(why, "format 2.0 is not readable"));
	assert_int_equal(kh_df_read_mem(junk, sizeof(junk), 0, &r, why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "not a kvmheat recording"));
	tpath(p, sizeof(p), "empty.data");
	fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	close(fd);
	assert_int_not_equal(kh_df_read_file(p, 0, &r, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "empty"));
	assert_int_equal(kh_df_read_file("/nonexistent/kh.data", 0, &r, why, sizeof(why)),
			 -ENOENT);
	assert_non_null(strstr(why, "No such file"));
	free(buf);
}

/* Run kvmheat in tmpdir; returns its exit code, output in *out / *err. */
static int kvmheat(char **out, char **err, char *const args[])
{
	char *argv[32], *kh = bin("kvmheat");
	int n = 0, rc;

	argv[n++] = kh;
	for (int i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	rc = run(out, err, 60, argv);
	if (rc) {
		printf("# --- kvmheat stderr ---\n");
		print_lines(*err);
	}
	free(kh);
	return rc;
}

static void golden(const char *name, const char *got)
{
	char path[512];
	char *want;

	snprintf(path, sizeof(path), "tests/golden/%s", name);
	if (getenv("KH_GOLDEN_UPDATE")) {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs(got, f);
		fclose(f);
		printf("# rewrote %s\n", path);
	}
	want = slurp(path);
	if (strcmp(want, got))
		printf("# %s differs; got:\n%s\n", path, got);
	assert_string_equal(want, got);
	free(want);
}

static void test_golden_csv_json(void **state)
{
	struct synth s;
	size_t len;
	char *out, *err;

	free(synth_file("synthetic.data", &s, true, &len));
	assert_int_equal(kvmheat(&out, &err, (char *[]){ "report", "-i", "synthetic.data",
							"--format", "csv", NULL }), 0);
	assert_string_equal(err, "");
	golden("synthetic.csv", out);
	free(out);
	free(err);
	assert_int_equal(kvmheat(&out, &err, (char *[]){ "report", "-i", "synthetic.data",
							"--format", "json", "--subpages",
							"--events", NULL }), 0);
	golden("synthetic.json", out);
	free(out);
	free(err);
	/* text: the loss is shown, never silent */
	assert_int_equal(kvmheat(&out, &err, (char *[]){ "report", "-i", "synthetic.data",
							"--subpages", NULL }), 0);
	assert_non_null(strstr(out, "LOST: source walk: 5 events (event ring buffer full)"));
	assert_non_null(strstr(out, "idle fraction: 0.500"));
	assert_non_null(strstr(out, "0x40002                     7  "
				    "...............................3"));
	free(out);
	free(err);
}

static void test_subset_export(void **state)
{
	struct synth s;
	struct kh_recording r;
	size_t len;
	char *out, *err, p[256], why[256];

	free(synth_file("big.data", &s, true, &len));
	assert_int_equal(kvmheat(&out, &err, (char *[]){ "report", "-i", "big.data", "--pid",
							"100", "--time", "0.1-0.25", "--gfn",
							"0x40000-0x40001", "-o", "small.data",
							NULL }), 0);
	printf("# %s%s", out, err);
	free(out);
	free(err);
	tpath(p, sizeof(p), "small.data");
	assert_int_equal(kh_df_read_file(p, KH_RD_EVENTS, &r, why, sizeof(why)), 0);
	assert_int_equal(r.nr_notes, 0);
	assert_true(r.has_footer);
	assert_int_equal(r.nr_vms, 1);
	assert_int_equal(r.vms[0].pid, 100);
	assert_int_equal(r.nr_epochs, 2);
	assert_int_equal(r.epochs[0].index, 1);
	assert_int_equal(r.epochs[1].index, 2);
	assert_int_equal(r.nr_gfns, 2);	/* 0x40000 twice; 0x40002 and VM 200 left out */
	for (size_t i = 0; i < r.nr_gfns; i++)
		assert_int_equal(r.gfns[i].gfn, 0x40000);
	assert_int_equal(r.nr_subs, 1);
	assert_int_equal(r.nr_events, 0);	/* 160 ms write is to 0x40002, read is VM 200 */
	assert_true(r.t_start == T0);
	assert_string_equal(json_string_value(json_object_get(r.header, "subset_of")),
			    "big.data");
	assert_string_equal(json_string_value(json_object_get(r.header, "host")), "synthhost");
	kh_rd_free(&r);
	/* the subset is itself a recording that report reads */
	assert_int_equal(kvmheat(&out, &err, (char *[]){ "report", "-i", "small.data", "--format",
							"csv", NULL }), 0);
	assert_string_equal(out, "pid,gfn,accesses,writes,subpage_write_mask,faults,aged,young,"
			    "tracked,spp,subpage_writes,name\n"
			    "100,262144,20,2,0x00000001,0,0,0,0,0,2 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 "
			    "0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0,\n");
	free(out);
	free(err);
}

/* ---- SVG through expat ---- */

struct svg {
	int depth, max_depth;
	bool root_svg;
	long width, height;
	int rects, titled;
	bool in_title;
	char title[256];
	size_t tlen;
	int hot_titles;		/* titles whose gfn range holds 0x40000 */
	bool in_text, legend;	/* a <text> says "per cell (log scale)" */
	int lines;		/* hover titles "VM ...": chart lines */
	char text[128];
	size_t xlen;
};

static void XMLCALL svg_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct svg *s = ud;

	if (!s->depth++) {
		s->root_svg = !strcmp(name, "svg");
		for (int i = 0; atts[i]; i += 2) {
			if (!strcmp(atts[i], "width"))
				s->width = atol(atts[i + 1]);
			if (!strcmp(atts[i], "height"))
				s->height = atol(atts[i + 1]);
		}
	}
	if (s->depth > s->max_depth)
		s->max_depth = s->depth;
	if (!strcmp(name, "rect"))
		s->rects++;
	if (!strcmp(name, "title")) {
		s->in_title = true;
		s->tlen = 0;
	}
	if (!strcmp(name, "text")) {
		s->in_text = true;
		s->xlen = 0;
	}
}

static void XMLCALL svg_text(void *ud, const XML_Char *t, int len)
{
	struct svg *s = ud;

	if (s->in_title && s->tlen + len < sizeof(s->title)) {
		memcpy(s->title + s->tlen, t, len);
		s->tlen += len;
	}
	if (s->in_text && s->xlen + len < sizeof(s->text)) {
		memcpy(s->text + s->xlen, t, len);
		s->xlen += len;
	}
}

static void XMLCALL svg_end(void *ud, const XML_Char *name)
{
	struct svg *s = ud;
	unsigned long long a, b;

	s->depth--;
	if (!strcmp(name, "text")) {
		s->in_text = false;
		s->text[s->xlen] = 0;
		s->legend |= strstr(s->text, "per cell (log scale)") != NULL;
	}
	if (strcmp(name, "title"))
		return;
	s->in_title = false;
	s->title[s->tlen] = 0;
	s->lines += !strncmp(s->title, "VM ", 3);
	if (sscanf(s->title, "gfn 0x%llx-0x%llx", &a, &b) == 2) {
		s->titled++;
		s->hot_titles += a <= 0x40000 && 0x40000 <= b;
	}
}

static void parse_svg(const char *path, struct svg *s)
{
	char *doc = slurp(path);
	XML_Parser xp = XML_ParserCreate(NULL);

	memset(s, 0, sizeof(*s));
	XML_SetUserData(xp, s);
	XML_SetElementHandler(xp, svg_start, svg_end);
	XML_SetCharacterDataHandler(xp, svg_text);
	if (XML_Parse(xp, doc, strlen(doc), 1) != XML_STATUS_OK)
		fail_msg("%s: XML error at line %lu: %s", path, XML_GetCurrentLineNumber(xp),
			 XML_ErrorString(XML_GetErrorCode(xp)));
	XML_ParserFree(xp);
	free(doc);
}

/* ---- PNG through libpng ---- */

struct pngimg {
	png_uint_32 w, h;
	uint8_t *px;		/* RGB */
	char geo[256];
	char segs[4096];
};

static void read_png(const char *path, struct pngimg *im)
{
	FILE *f = fopen(path, "rb");
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	png_textp txt;
	int ntxt = 0;
	png_bytep *rows;

	assert_non_null(f);
	memset(im, 0, sizeof(*im));
	if (setjmp(png_jmpbuf(png)))
		fail_msg("%s: libpng could not read it", path);
	png_init_io(png, f);
	png_read_info(png, info);
	im->w = png_get_image_width(png, info);
	im->h = png_get_image_height(png, info);
	assert_int_equal(png_get_color_type(png, info), PNG_COLOR_TYPE_RGB);
	assert_int_equal(png_get_bit_depth(png, info), 8);
	im->px = malloc((size_t)im->w * im->h * 3);
	rows = malloc(im->h * sizeof(*rows));
	for (png_uint_32 y = 0; y < im->h; y++)
		rows[y] = im->px + (size_t)y * im->w * 3;
	png_read_image(png, rows);
	png_read_end(png, info);
	png_get_text(png, info, &txt, &ntxt);
	for (int i = 0; i < ntxt; i++) {
		if (!strcmp(txt[i].key, "kvmheat-geometry"))
			snprintf(im->geo, sizeof(im->geo), "%s", txt[i].text);
		if (!strcmp(txt[i].key, "kvmheat-segments"))
			snprintf(im->segs, sizeof(im->segs), "%s", txt[i].text);
	}
	png_destroy_read_struct(&png, &info, NULL);
	free(rows);
	fclose(f);
}

/* Dark pixels (text, ticks) in a box "x,y,w,h" of the image. */
static size_t dark_in(const struct pngimg *im, unsigned int x, unsigned int y, unsigned int w,
		      unsigned int h)
{
	size_t n = 0;

	for (unsigned int j = y; j < y + h && j < im->h; j++)
		for (unsigned int i = x; i < x + w && i < im->w; i++) {
			const uint8_t *q = im->px + ((size_t)j * im->w + i) * 3;

			n += q[0] < 110 && q[1] < 110 && q[2] < 110;
		}
	return n;
}

struct box {
	unsigned int x, y, w, h;
};

static void geo_box(const char *geo, const char *key, struct box *b)
{
	char k[32];
	const char *at;

	snprintf(k, sizeof(k), " %s=", key);
	at = strstr(geo, k);
	assert_non_null(at);
	assert_int_equal(sscanf(at + strlen(k), "%u,%u,%u,%u", &b->x, &b->y, &b->w, &b->h), 4);
}

static bool in_box(const struct box *b, unsigned int x, unsigned int y)
{
	return x >= b->x && x < b->x + b->w && y >= b->y && y < b->y + b->h;
}

/*
 * The labels and the legend are drawn where the geometry says: each box
 * holds text (dark on white), and no dark pixel lies outside the plot
 * area and the boxes.
 */
static void check_png_labels(const struct pngimg *im, unsigned int x0, unsigned int y0,
			     unsigned int pw, unsigned int ph)
{
	static const char *keys[] = { "title", "yticks", "xticks", "legend", "gutter" };
	struct box b[5], plot = { x0, y0, pw, ph };
	size_t stray = 0;

	for (int i = 0; i < 5; i++) {
		geo_box(im->geo, keys[i], &b[i]);
		if (i < 4) {
			size_t n = dark_in(im, b[i].x, b[i].y, b[i].w, b[i].h);

			printf("# %s box %u,%u %ux%u: %zu dark pixels\n", keys[i], b[i].x, b[i].y,
			       b[i].w, b[i].h, n);
			assert_true(n >= 40);
		}
	}
	for (unsigned int y = 0; y < im->h; y++)
		for (unsigned int x = 0; x < im->w; x++) {
			bool inside = in_box(&plot, x, y);

			for (int i = 0; i < 5 && !inside; i++)
				inside = in_box(&b[i], x, y);
			stray += !inside && dark_in(im, x, y, 1, 1);
		}
	assert_int_equal(stray, 0);
}

static void heatmap_png(const char *name, const char *rows, const char *cols,
			struct pngimg *im)
{
	char *out, *err, p[256];

	assert_int_equal(kvmheat(&out, &err, (char *[]){ "heatmap", "-i", "hm.data", "--pid",
							"100", "-o", (char *)name, "--rows",
							(char *)rows, "--cols", (char *)cols,
							NULL }), 0);
	free(out);
	free(err);
	tpath(p, sizeof(p), name);
	read_png(p, im);
}

static void test_heatmap_outputs(void **state)
{
	struct synth s;
	struct svg sv;
	struct pngimg im, im2;
	size_t len;
	char *out, *err, p[256];
	unsigned int rows, cols, cw, ch, x0, y0, iw, ih, pw_ph[2];
	unsigned long long lo, hi;

	free(synth_file("hm.data", &s, true, &len));
	assert_int_equal(kvmheat(&out, &err, (char *[]){ "heatmap", "-i", "hm.data", "--pid",
							"100", "-o", "hm.svg", NULL }), 0);
	free(out);
	free(err);
	tpath(p, sizeof(p), "hm.svg");
	parse_svg(p, &sv);
	assert_true(sv.root_svg);
	assert_true(sv.width > 100 && sv.height > 100);
	assert_true(sv.titled >= 4);
	assert_true(sv.hot_titles >= 3);	/* 0x40000 is accessed in epochs 0-2 */
	assert_true(sv.legend);			/* "accesses per cell (log scale)" */
	heatmap_png("hm.png", "64", "480", &im);
	assert_int_equal(sscanf(strstr(im.geo, "rows="), "rows=%u cols=%u cell_w=%u cell_h=%u "
				"x0=%u lo=%llu hi=%llu y0=%u width=%u height=%u", &rows, &cols, &cw,
				&ch, &x0, &lo, &hi, &y0, &iw, &ih), 10);
	assert_int_equal(rows, 64);
	assert_int_equal(cols, 4);
	assert_int_equal(im.w, iw);
	assert_int_equal(im.h, ih);
	/* memslots 0 (256 pages) and 0x40000 (1024) end to end, cropped to 0x10..0x40002 */
	assert_string_equal(im.segs, "0:256,262144:1024");
	assert_int_equal(lo, 0x10);
	assert_int_equal(hi, 256 + 2);
	/* gfn 0x40000 (index 256) is in the bottom row and hot in columns 0-2 */
	for (unsigned int c = 0; c < cols; c++) {
		uint8_t *px = im.px + ((size_t)(y0 + (rows - 1) * ch) * im.w + x0 + c * cw) * 3;
		bool bg = px[0] == 20 && px[1] == 20 && px[2] == 30;

		assert_true(c < 3 ? !bg : true);
	}
	/* rows between gfn 0x10 and the end of slot 0 hold nothing */
	for (unsigned int r = 1; r < rows - 1; r++) {
		uint8_t *px = im.px + ((size_t)(y0 + r * ch) * im.w + x0) * 3;

		assert_true(px[0] == 20 && px[1] == 20 && px[2] == 30);
	}
	check_png_labels(&im, x0, y0, cols * cw, rows * ch);
	pw_ph[0] = cols * cw;
	pw_ph[1] = rows * ch;
	/* the image follows --rows/--cols: the plot grows, the margins stay */
	heatmap_png("hm2.png", "200", "2", &im2);
	assert_int_equal(sscanf(strstr(im2.geo, "rows="), "rows=%u cols=%u cell_w=%u cell_h=%u",
				&rows, &cols, &cw, &ch), 4);
	assert_int_equal(rows, 200);
	assert_int_equal(cols, 2);
	printf("# 64 rows: %ux%u px; 200 rows x 2 columns: %ux%u px\n", im.w, im.h, im2.w, im2.h);
	assert_int_equal(im2.h - rows * ch, ih - pw_ph[1]);
	assert_int_equal(im2.w - cols * cw, iw - pw_ph[0]);
	free(im.px);
	free(im2.px);
}

/* On a pipe the terminal heatmap is plain text; --color always gives ANSI colour. */
static void test_heatmap_terminal(void **state)
{
	struct synth s;
	size_t len;
	char *out, *err;

	free(synth_file("term.data", &s, true, &len));
	assert_int_equal(kvmheat(&out, &err, (char *[]){ "heatmap", "-i", "term.data", "--pid",
							"100", "-o", "-", NULL }), 0);
	assert_null(strchr(out, '\033'));
	/* the hottest cell: gfns 0x40000 and 0x40002 share the last row, 10 + 7 in epoch 1 */
	assert_non_null(strstr(out, "scale (log, accesses per cell): 1 .:-=+*#%@ 17"));
	assert_non_null(strchr(out, '@'));	/* the hottest cell */
	free(out);
	free(err);
	assert_int_equal(kvmheat(&out, &err, (char *[]){ "heatmap", "-i", "term.data", "--pid",
							"100", "--color", "always", "--axis",
							"gfn", NULL }), 0);
	assert_non_null(strstr(out, "\033[38;5;"));
	assert_non_null(strstr(out, "scale (log, accesses per cell): 1 \033[48;5;"));
	assert_non_null(strstr(out, "gfn 0x10-0x40003"));
	free(out);
	free(err);
	assert_int_equal(kvmheat(&out, &err, (char *[]){ "heatmap", "-i", "term.data",
							"--color", "sometimes", NULL }), 2);
	free(out);
	free(err);
}

/* Charts: a line per VM; cold has no data in recordings yet and says so. */
static void test_heatmap_charts(void **state)
{
	struct synth s;
	struct svg sv;
	struct pngimg im;
	size_t len;
	char *out, *err, p[256];

	free(synth_file("ch.data", &s, true, &len));
	assert_int_equal(kvmheat(&out, &err, (char *[]){ "heatmap", "-i", "ch.data", "--chart",
							"wss", "-o", "wss.svg", NULL }), 0);
	free(out);
	free(err);
	tpath(p, sizeof(p), "wss.svg");
	parse_svg(p, &sv);
	assert_true(sv.root_svg && sv.width > 100);
	assert_true(sv.lines == 2);		/* VMs 100 and 200 */
	assert_int_equal(kvmheat(&out, &err, (char *[]){ "heatmap", "-i", "ch.data", "--chart",
							"rates", "-o", "rates.png", NULL }), 0);
	free(out);
	free(err);
	tpath(p, sizeof(p), "rates.png");
	read_png(p, &im);
	assert_true(dark_in(&im, 0, 0, im.w, 30) > 100);	/* the title */
	free(im.px);
	assert_int_equal(kvmheat(&out, &err, (char *[]){ "heatmap", "-i", "ch.data", "--chart",
							"cold", "-o", "cold.svg", NULL }), 1);
	assert_non_null(strstr(err, "holds no idle ages (record with --age-driver"));
	assert_null(strchr(strchr(err, '\n') + 1, '\n'));	/* one line */
	tpath(p, sizeof(p), "cold.svg");
	assert_int_equal(access(p, F_OK), -1);		/* no empty picture left behind */
	free(out);
	free(err);
	assert_int_equal(kvmheat(&out, &err, (char *[]){ "heatmap", "-i", "ch.data", "--chart",
							"wss", "--time", "5-6", "-o", "e.png",
							NULL }), 1);
	assert_non_null(strstr(err, "nothing to draw"));
	free(out);
	free(err);
}

/* ---- the HTML report in headless Chromium ---- */

/* Any PNG (Chromium's are RGBA) as 8-bit RGB. */
static bool read_png_rgb(const char *path, struct pngimg *im)
{
	FILE *f = fopen(path, "rb");
	png_structp png;
	png_infop info;
	png_bytep *rows;

	memset(im, 0, sizeof(*im));
	if (!f)
		return false;
	png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	info = png_create_info_struct(png);
	if (setjmp(png_jmpbuf(png)))
		fail_msg("%s: libpng could not read it", path);
	png_init_io(png, f);
	png_read_info(png, info);
	png_set_expand(png);
	png_set_strip_16(png);
	png_set_strip_alpha(png);
	png_set_gray_to_rgb(png);
	png_read_update_info(png, info);
	im->w = png_get_image_width(png, info);
	im->h = png_get_image_height(png, info);
	assert_int_equal(png_get_rowbytes(png, info), im->w * 3);
	im->px = malloc((size_t)im->w * im->h * 3);
	rows = malloc(im->h * sizeof(*rows));
	for (png_uint_32 y = 0; y < im->h; y++)
		rows[y] = im->px + (size_t)y * im->w * 3;
	png_read_image(png, rows);
	png_destroy_read_struct(&png, &info, NULL);
	free(rows);
	fclose(f);
	return true;
}

static size_t distinct_colours(const struct pngimg *im, unsigned int x0, unsigned int y0,
			       unsigned int w, unsigned int h)
{
	static uint8_t seen[1 << 21];	/* 7 bits per channel: enough to tell shades apart */
	size_t n = 0;

	memset(seen, 0, sizeof(seen));
	for (unsigned int y = y0; y < y0 + h && y < im->h; y++)
		for (unsigned int x = x0; x < x0 + w && x < im->w; x++) {
			const uint8_t *q = im->px + ((size_t)y * im->w + x) * 3;
			unsigned int k = (q[0] >> 1) << 14 | (q[1] >> 1) << 7 | q[2] >> 1;

			n += !seen[k];
			seen[k] = 1;
		}
	return n;
}

/*
 * A copy of the page with a probe appended: after load it writes the first
 * heatmap's box and the page's hot-range row count into a hidden element,
 * which --dump-dom shows.  The probe sits after the page, changing nothing.
 */
static void html_probe_copy(const char *html, const char *probe)
{
	FILE *f = fopen(probe, "w");
	char *doc = slurp(html);

	assert_non_null(f);
	fputs(doc, f);
	fputs("<pre id=\"probe\" style=\"display:none\"></pre><script>\n"
	      "var s=document.querySelector('section svg'),r=s.getBoundingClientRect();\n"
	      "document.getElementById('probe').textContent='probe '+Math.round(r.left)+' '+"
	      "Math.round(r.top)+' '+Math.round(r.width)+' '+Math.round(r.height)+' rows '+"
	      "document.querySelectorAll('tr.range').length;\n</script>\n", f);
	fclose(f);
	free(doc);
}

/* Chromium with every network path dead: a proxy on a closed port, no DNS. */
static int chromium(char **out, char **err, const char *what, const char *url)
{
	char *argv[] = { "/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
			 "--hide-scrollbars", "--window-size=1280,2400",
			 "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
			 "--log-net-log=netlog.json", "--net-log-capture-mode=Default",
			 (char *)what, (char *)url, NULL };

	return run(out, err, 120, argv);
}

/* How a request made by a file:// page shows in Chromium's net log. */
#define PAGE_REQUEST	"SiteForCookies: {site=file://"

static void test_report_html_in_chromium(void **state)
{
	struct synth s;
	struct pngimg shot;
	size_t len;
	char *out, *err, *doc, *dom, *net, html[256], probe[256], url[300], shotp[256], netp[256];
	char ctl[256];
	FILE *f;
	unsigned int bx, by, bw, bh, nrows;

	free(synth_file("html.data", &s, true, &len));
	assert_int_equal(kvmheat(&out, &err, (char *[]){ "report", "-i", "html.data", "--format",
							"html", "-o", "r.html", NULL }), 0);
	free(out);
	free(err);
	tpath(html, sizeof(html), "r.html");
	doc = slurp(html);
	/* self-contained: nothing to fetch */
	assert_null(strstr(doc, "http://"));
	assert_null(strstr(doc, "https://"));
	assert_null(strstr(doc, "<link"));
	assert_null(strstr(doc, "src="));
	assert_null(strstr(doc, "url("));
	assert_non_null(strstr(doc, "synthhost"));
	assert_non_null(strstr(doc, "kvmheat record -F 100"));
	assert_non_null(strstr(doc, "tp_btf:kvm_age_hva"));	/* the aging source's attach */
	free(doc);
	if (access("/usr/bin/chromium", X_OK))
		KH_SKIP("chromium is not installed (make deps installs it)");
	tpath(probe, sizeof(probe), "probe.html");
	html_probe_copy(html, probe);
	snprintf(url, sizeof(url), "file://%s", probe);
	if (chromium(&dom, &err, "--dump-dom", url) || !strstr(dom, "</html>")) {
		printf("# chromium stderr:\n");
		print_lines(err);
		free(dom);
		free(err);
		KH_SKIP("chromium could not start or load the page headless");
	}
	free(err);
	/* the DOM after scripts ran: the heatmap is there and sized, the rows are there */
	assert_non_null(strstr(dom, "probe "));
	assert_int_equal(sscanf(strstr(dom, "probe "), "probe %u %u %u %u rows %u", &bx, &by, &bw,
				&bh, &nrows), 5);
	printf("# heatmap SVG at %u,%u, %ux%u px; %u hot-range rows in the DOM\n", bx, by, bw, bh,
	       nrows);
	assert_true(bw >= 300 && bh >= 200);
	/* every hot range `report -j` gives, one row each */
	assert_int_equal(kvmheat(&out, &err, (char *[]){ "report", "-i", "html.data", "-j",
							NULL }), 0);
	{
		json_t *root = json_loads(out, 0, NULL), *vms = json_object_get(root, "vms");
		size_t want = 0;

		assert_non_null(root);
		for (size_t v = 0; v < json_array_size(vms); v++) {
			json_t *rg = json_object_get(json_array_get(vms, v), "ranges");

			for (size_t k = 0; k < json_array_size(rg); k++, want++) {
				json_t *r = json_array_get(rg, k);
				char cell[64];

				snprintf(cell, sizeof(cell), ">0x%" PRIx64 "<",
					 (uint64_t)jint(r, "gfn_start"));
				assert_int_equal(jint(r, "pages"), 1);
				assert_non_null(strstr(dom, cell));
			}
		}
		assert_int_equal(nrows, want);
		assert_true(want >= 5);
		json_decref(root);
	}
	free(out);
	free(err);
	assert_null(strstr(dom, "http://"));
	assert_null(strstr(dom, "https://"));
	free(dom);
	/*
	 * Chromium's own log of every request it made: the browser's background
	 * requests have no site, the page's would have file://.  A control page
	 * with one external image shows that the check sees a page's request.
	 */
	tpath(netp, sizeof(netp), "netlog.json");
	net = slurp(netp);
	assert_null(strstr(net, PAGE_REQUEST));
	free(net);
	tpath(ctl, sizeof(ctl), "control.html");
	f = fopen(ctl, "w");
	assert_non_null(f);
	fputs("<html><body><img src=\"http://kvmheat-control.invalid/x.png\"></body></html>\n",
	      f);
	fclose(f);
	snprintf(url, sizeof(url), "file://%s", ctl);
	assert_int_equal(chromium(&out, &err, "--dump-dom", url), 0);
	free(out);
	free(err);
	net = slurp(netp);
	assert_non_null(strstr(net, PAGE_REQUEST));
	free(net);
	snprintf(url, sizeof(url), "file://%s", probe);
	/* the screenshot: not blank, many colours where the heatmap is */
	tpath(shotp, sizeof(shotp), "shot.png");
	unlink(shotp);
	assert_int_equal(chromium(&out, &err, "--screenshot=shot.png", url), 0);
	free(out);
	free(err);
	assert_true(read_png_rgb(shotp, &shot));
	printf("# screenshot %ux%u: %zu colours in the heatmap box, %zu in the page\n", shot.w,
	       shot.h, distinct_colours(&shot, bx, by, bw, bh),
	       distinct_colours(&shot, 0, 0, shot.w, shot.h));
	assert_true(by + bh <= shot.h);
	assert_true(distinct_colours(&shot, bx, by, bw, bh) >= 100);
	assert_true(dark_in(&shot, bx, by, bw, bh) > 1000);	/* plot background and labels */
	free(shot.px);
}

static void test_report_bad_input(void **state)
{
	char *out, *err, p[256];
	FILE *f;

	assert_int_equal(kvmheat(&out, &err, (char *[]){ "report", "-i", "missing.data", NULL }),
			 1);
	assert_non_null(strstr(err, "cannot open missing.data: No such file or directory"));
	assert_null(strchr(strchr(err, '\n') + 1, '\n'));
	free(out);
	free(err);
	tpath(p, sizeof(p), "junk.data");
	f = fopen(p, "w");
	fputs("hello, not a recording\n", f);
	fclose(f);
	assert_int_equal(kvmheat(&out, &err, (char *[]){ "report", "-i", "junk.data", NULL }), 1);
	assert_non_null(strstr(err, "not a kvmheat recording"));
	free(out);
	free(err);
	assert_int_equal(kvmheat(&out, &err, (char *[]){ "report", "-j", "-i", "junk.data", NULL }),
			 1);
	assert_non_null(strstr(out, "\"exit_code\":1"));
	free(out);
	free(err);
	assert_int_equal(kvmheat(&out, &err, (char *[]){ "report", "--sort", "size", NULL }), 2);
	free(out);
	free(err);
	assert_int_equal(kvmheat(&out, &err, (char *[]){ "heatmap", "-o", "x.gif", NULL }), 2);
	free(out);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_truncated_at_every_byte),
		cmocka_unit_test(test_corrupt_checksums),
		cmocka_unit_test(test_unknown_records_skipped),
		cmocka_unit_test(test_refuses_other_files),
		cmocka_unit_test(test_golden_csv_json),
		cmocka_unit_test(test_subset_export),
		cmocka_unit_test(test_heatmap_outputs),
		cmocka_unit_test(test_heatmap_terminal),
		cmocka_unit_test(test_heatmap_charts),
		cmocka_unit_test(test_report_html_in_chromium),
		cmocka_unit_test(test_report_bad_input),
	};

	return cmocka_run_group_tests_name("recordings: format, report, heatmap", tests,
					   tmpdir_setup, tmpdir_teardown);
}
