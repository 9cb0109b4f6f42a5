// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Recordings: the chunk writer and the reader (docs/FORMAT.md).
 *
 * The writer builds records in memory and writes them as one zlib chunk
 * with its own length and checksums in a single write(), so a killed
 * recorder or a full disk leaves every earlier chunk intact.  The reader
 * checks every length against what is left before using it, skips
 * corrupt chunks by searching for the next valid chunk header, skips
 * record types it does not know by their size, and says in notes where
 * the file was cut or damaged.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <zlib.h>
#include "datafile.h"
#include "idle.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the format is little-endian");

#define KH_GFN_BITS	40	/* gfns of 52-bit physical addresses */

/* ---- writer ---- */

static int kh_dw_init(struct kh_dw *w, int fd)
{
	struct kh_df_filehdr h = { .major = KH_DF_MAJOR, .minor = KH_DF_MINOR,
				   .hdr_size = sizeof(h) };

	w->fd = fd;
	w->chunk_target = KH_DF_CHUNK_TARGET;
	w->level = Z_BEST_SPEED;
	memcpy(h.magic, KH_DF_MAGIC, sizeof(h.magic));
	h.crc = crc32(0, (const Bytef *)&h, offsetof(struct kh_df_filehdr, crc));
	if (write(fd, &h, sizeof(h)) != (ssize_t)sizeof(h))
		return w->err = errno ? -errno : -EIO;
	w->off = sizeof(h);
	return 0;
}

int kh_dw_fdopen(struct kh_dw *w, int fd)
{
	memset(w, 0, sizeof(*w));
	return kh_dw_init(w, fd);
}

/*
 * The file is written under a temporary name made with O_EXCL (so nothing
 * already at that name, symlink or not, is followed) and 0600, and renamed
 * over @path by kh_dw_commit() once its first chunk is on disk: rename
 * replaces a symlink at @path rather than writing through it.
 */
int kh_dw_create(struct kh_dw *w, const char *path)
{
	int fd, err;

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	if (asprintf(&w->tmp, "%s.tmp.XXXXXX", path) < 0) {
		w->tmp = NULL;
		return -ENOMEM;
	}
	w->path = strdup(path);
	if (!w->path)
		return -ENOMEM;
	fd = mkostemp(w->tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(w->tmp);
		w->tmp = NULL;
		return err;
	}
	if (fchmod(fd, 0600)) {
		err = -errno;
		close(fd);
		unlink(w->tmp);
		return err;
	}
	return kh_dw_init(w, fd);
}

/*
 * Flush what is buffered and put the file at its final name; an existing
 * non-empty file there becomes PATH.old first (as perf does).
 */
int kh_dw_commit(struct kh_dw *w, bool rotate)
{
	struct stat st;
	char *old = NULL;
	int err = kh_dw_flush(w);

	if (err)
		return err;
	if (!w->tmp)
		return 0;
	if (!lstat(w->path, &st)) {
		if (S_ISDIR(st.st_mode))
			return -EISDIR;
		if (rotate && (!S_ISREG(st.st_mode) || st.st_size > 0)) {
			if (asprintf(&old, "%s.old", w->path) < 0)
				return -ENOMEM;
			if (rename(w->path, old)) {
				err = -errno;
				free(old);
				return err;
			}
			free(old);
		}
	}
	if (rename(w->tmp, w->path))
		return -errno;
	free(w->tmp);
	w->tmp = NULL;
	return 0;
}

int kh_dw_flush(struct kh_dw *w)
{
	struct kh_df_chunk c = { .magic = KH_DF_CHUNK_MAGIC };
	uLongf zlen;
	struct iovec iov[2];
	size_t want;
	ssize_t n;

	if (w->err)
		return w->err;
	if (!w->len)
		return 0;
	zlen = compressBound(w->len);
	if (zlen > w->zcap) {
		uint8_t *nz = realloc(w->zbuf, zlen);

		if (!nz)
			return w->err = -ENOMEM;
		w->zbuf = nz;
		w->zcap = zlen;
	}
	if (compress2(w->zbuf, &zlen, w->buf, w->len, w->level) != Z_OK)
		return w->err = -EIO;
	c.seq = w->seq;
	c.raw_len = w->len;
	c.comp_len = zlen;
	c.data_crc = crc32(0, w->zbuf, zlen);
	c.hdr_crc = crc32(0, (const Bytef *)&c, offsetof(struct kh_df_chunk, hdr_crc));
	iov[0] = (struct iovec){ &c, sizeof(c) };
	iov[1] = (struct iovec){ w->zbuf, zlen };
	want = sizeof(c) + zlen;
	n = writev(w->fd, iov, 2);
	if (n != (ssize_t)want) {
		/*
		 * A short write (full disk) leaves a torn chunk: cut it off so
		 * the file ends at the last whole chunk.
		 */
		int terr;

		w->err = n < 0 ? -errno : -ENOSPC;
		terr = ftruncate(w->fd, w->off);
		(void)terr;	/* nothing better to do: the reader copes with a torn tail */
		return w->err;
	}
	if (w->fsync && fdatasync(w->fd))
		return w->err = -errno;
	w->off += want;
	w->raw_bytes += w->len;
	w->seq++;
	w->len = 0;
	return 0;
}

/* Append one record; it never straddles two chunks. */
int kh_dw_add(struct kh_dw *w, uint16_t type, const void *rec, size_t size)
{
	struct kh_rec_hdr h;

	if (w->err)
		return w->err;
	if (size < sizeof(h) || size > UINT16_MAX)
		return -EINVAL;
	if (w->len + size > w->chunk_target && kh_dw_flush(w))
		return w->err;
	if (w->len + size > w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 64 << 10;
		uint8_t *nb;

		while (nc < w->len + size)
			nc *= 2;
		nb = realloc(w->buf, nc);
		if (!nb)
			return w->err = -ENOMEM;
		w->buf = nb;
		w->cap = nc;
	}
	/* records are packed, not aligned: the header goes in by memcpy too */
	h = (struct kh_rec_hdr){ .type = type, .size = size };
	memcpy(w->buf + w->len, rec, size);
	memcpy(w->buf + w->len, &h, sizeof(h));
	w->len += size;
	return 0;
}

static void kh_dw_free(struct kh_dw *w)
{
	free(w->buf);
	free(w->zbuf);
	free(w->path);
	free(w->tmp);
	w->buf = w->zbuf = NULL;
	w->path = w->tmp = NULL;
}

int kh_dw_close(struct kh_dw *w)
{
	int err = kh_dw_flush(w);

	if (!err && w->tmp)
		err = kh_dw_commit(w, true);
	if (w->fd >= 0 && close(w->fd) && !err)
		err = -errno;
	w->fd = -1;
	kh_dw_free(w);
	return err;
}

/* Give up on a file that was never committed; a committed one stays. */
void kh_dw_abort(struct kh_dw *w)
{
	if (w->tmp)
		unlink(w->tmp);
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	kh_dw_free(w);
}

int kh_dw_header(struct kh_dw *w, json_t *hdr)
{
	char *s = json_dumps(hdr, JSON_COMPACT);
	size_t n = s ? strlen(s) : 0;
	uint8_t *rec;
	int err;

	if (!s)
		return -ENOMEM;
	if (n + sizeof(struct kh_rec_hdr) > UINT16_MAX) {
		free(s);
		return -E2BIG;
	}
	rec = malloc(sizeof(struct kh_rec_hdr) + n);
	if (!rec) {
		free(s);
		return -ENOMEM;
	}
	memcpy(rec + sizeof(struct kh_rec_hdr), s, n);
	err = kh_dw_add(w, KH_DF_HEADER, rec, sizeof(struct kh_rec_hdr) + n);
	free(rec);
	free(s);
	return err;
}

int kh_dw_source(struct kh_dw *w, int src, uint16_t flags, const char *desc)
{
	struct {
		struct kh_df_source s;
		char d[256];
	} r = { .s = { .source = src, .flags = flags } };
	size_t n = strnlen(desc, sizeof(r.d) - 1);

	memcpy(r.d, desc, n);
	r.d[n] = 0;
	return kh_dw_add(w, KH_DF_SOURCE, &r, sizeof(r.s) + n + 1);
}

int kh_dw_vm_id(struct kh_dw *w, uint64_t t_ns, uint64_t kvm, uint32_t pid, uint32_t nr_vcpus,
		const char *comm, const struct kh_vm_ident *id, const struct kh_slot *slots,
		size_t nr_slots, uint32_t flags)
{
	size_t max = (UINT16_MAX - sizeof(struct kh_df_vm) - sizeof(struct kh_df_vm_ident)) /
		     sizeof(struct kh_slot);
	size_t n = nr_slots < max ? nr_slots : max, size;
	struct kh_df_vm_ident *vi;
	struct kh_df_vm *v;
	struct kh_slot *s;
	int err;

	size = sizeof(*v) + n * sizeof(*s) + (id ? sizeof(*vi) : 0);
	v = calloc(1, size);
	if (!v)
		return -ENOMEM;
	v->t_ns = t_ns;
	v->kvm = kvm;
	v->pid = pid;
	v->nr_vcpus = nr_vcpus;
	strncpy(v->comm, comm ? comm : "", sizeof(v->comm));
	v->nr_slots = n;
	v->slot_size = sizeof(*s);
	v->flags = flags;
	s = (struct kh_slot *)(v + 1);
	if (n)
		memcpy(s, slots, n * sizeof(*s));	/* the in-memory layout is the file's */
	if (id) {
		vi = (struct kh_df_vm_ident *)(s + n);
		memcpy(vi->name, id->name, strnlen(id->name, KH_NAME_MAX));
		memcpy(vi->uuid, id->uuid, strnlen(id->uuid, KH_UUID_LEN));
		vi->name_source = id->source;
	}
	err = kh_dw_add(w, KH_DF_VM, v, size);
	free(v);
	return err;
}

int kh_dw_vm(struct kh_dw *w, uint64_t t_ns, uint64_t kvm, uint32_t pid, uint32_t nr_vcpus,
	     const char *comm, const struct kh_slot *slots, size_t nr_slots, uint32_t flags)
{
	return kh_dw_vm_id(w, t_ns, kvm, pid, nr_vcpus, comm, NULL, slots, nr_slots, flags);
}

int kh_dw_note(struct kh_dw *w, const char *text)
{
	struct {
		struct kh_rec_hdr h;
		char t[1024];
	} r = {};
	size_t n = strnlen(text, sizeof(r.t) - 1);

	memcpy(r.t, text, n);
	return kh_dw_add(w, KH_DF_NOTE, &r, sizeof(r.h) + n + 1);
}

int kh_dw_vm_exit(struct kh_dw *w, uint64_t t_ns, uint64_t kvm, uint32_t pid)
{
	struct kh_df_vm_exit r = { .t_ns = t_ns, .kvm = kvm, .pid = pid };

	return kh_dw_add(w, KH_DF_VM_EXIT, &r, sizeof(r));
}

int kh_dw_epoch(struct kh_dw *w, uint32_t index, uint64_t t0, uint64_t t1, uint64_t nr_gfns,
		uint64_t nr_subpages)
{
	struct kh_df_epoch r = { .t_start_ns = t0, .t_end_ns = t1, .index = index,
				 .nr_gfns = nr_gfns, .nr_subpages = nr_subpages };

	w->nr_epochs++;
	return kh_dw_add(w, KH_DF_EPOCH, &r, sizeof(r));
}

/* Entries go out in records of at most 64 KiB, each one VM's. */
static int kh_dw_batch(struct kh_dw *w, uint16_t type, uint32_t pid, const void *ents,
		       size_t ent_size, size_t n)
{
	size_t per = (UINT16_MAX - sizeof(struct kh_df_batch)) / ent_size;
	uint8_t *rec = malloc(sizeof(struct kh_df_batch) + per * ent_size);
	int err = 0;

	if (!rec)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i += per) {
		size_t k = n - i < per ? n - i : per;
		struct kh_df_batch *b = (struct kh_df_batch *)rec;

		memset(b, 0, sizeof(*b));
		b->pid = pid;
		b->n = k;
		b->ent_size = ent_size;
		memcpy(rec + sizeof(*b), (const uint8_t *)ents + i * ent_size, k * ent_size);
		err = kh_dw_add(w, type, rec, sizeof(*b) + k * ent_size);
	}
	free(rec);
	return err;
}

int kh_dw_batches(struct kh_dw *w, uint16_t type, const uint32_t *pids, const void *ents,
		  size_t ent_size, size_t n)
{
	int err = 0;

	for (size_t i = 0, k; !err && i < n; i = k) {
		for (k = i; k < n && pids[k] == pids[i]; k++)
			;
		err = kh_dw_batch(w, type, pids[i], (const uint8_t *)ents + i * ent_size, ent_size,
				  k - i);
	}
	return err;
}

int kh_dw_gfns(struct kh_dw *w, uint32_t pid, const struct kh_df_gfn *g, size_t n)
{
	return kh_dw_batch(w, KH_DF_GFNS, pid, g, sizeof(*g), n);
}

int kh_dw_subpages(struct kh_dw *w, uint32_t pid, const struct kh_df_subpage *s, size_t n)
{
	return kh_dw_batch(w, KH_DF_SUBPAGES, pid, s, sizeof(*s), n);
}

int kh_dw_regions(struct kh_dw *w, uint32_t pid, const struct kh_df_region *v, size_t n)
{
	return kh_dw_batch(w, KH_DF_REGIONS, pid, v, sizeof(*v), n);
}

struct kh_dw_runs {
	struct kh_df_idle_run *v;
	size_t n, cap;
};

static int kh_dw_run_add(void *ctx, uint64_t gfn, uint64_t hva, uint64_t npages,
			 unsigned int age)
{
	struct kh_dw_runs *c = ctx;

	(void)hva;
	while (npages) {	/* npages is 32-bit in the file: 16 TiB runs split */
		uint32_t k = npages > UINT32_MAX ? UINT32_MAX : (uint32_t)npages;

		if (kh_grow(&c->v, &c->cap, c->n + 1, sizeof(*c->v)))
			return -ENOMEM;
		c->v[c->n++] = (struct kh_df_idle_run){ .gfn = gfn, .npages = k,
							.age = (uint8_t)age };
		gfn += k;
		npages -= k;
	}
	return 0;
}

int kh_dw_idle_scan(struct kh_dw *w, const struct kh_rd_idle *s, const struct kh_df_idle_run *runs,
		    size_t n)
{
	struct kh_df_idle_scan r = { .t_ns = s->t_ns, .pid = s->pid, .scan = s->scan,
				     .driver = s->driver, .flags = s->flags,
				     .interval_ms = s->interval_ms, .nr_runs = n };
	int err = kh_dw_add(w, KH_DF_IDLE_SCAN, &r, sizeof(r));

	return err ? err : kh_dw_batch(w, KH_DF_IDLE_RUNS, s->pid, runs, sizeof(*runs), n);
}

int kh_dw_idle(struct kh_dw *w, uint64_t t_ns, const struct kh_idle *st, int driver,
	       uint16_t flags, uint32_t interval_ms)
{
	struct kh_dw_runs c = {};
	struct kh_rd_idle s = { .t_ns = t_ns, .pid = st->pid, .scan = (uint32_t)st->scans,
				.driver = (uint16_t)driver, .flags = flags,
				.interval_ms = interval_ms };
	int err = kh_idle_walk(st, kh_dw_run_add, &c);

	if (!err)
		err = kh_dw_idle_scan(w, &s, c.v, c.n);
	free(c.v);
	return err;
}

int kh_dw_event(struct kh_dw *w, const struct kh_event *e)
{
	w->nr_events++;
	return kh_dw_add(w, KH_REC_EVENT, e, sizeof(*e));
}

int kh_dw_stats(struct kh_dw *w, uint64_t t_ns, const uint64_t v[KH_NR_STATS])
{
	struct {
		struct kh_df_stats s;
		uint64_t v[KH_NR_STATS];
	} r = { .s = { .t_ns = t_ns, .nr_src = KH_SRC_MAX, .nr_stat = KH_STAT_MAX } };

	memcpy(r.v, v, sizeof(r.v));
	return kh_dw_add(w, KH_DF_STATS, &r, sizeof(r));
}

int kh_dw_lost(struct kh_dw *w, uint64_t t_ns, int src, int stat, uint64_t lost,
	       uint64_t total)
{
	struct kh_df_lost r = { .t_ns = t_ns, .source = src, .stat = stat, .lost = lost,
				.total = total };

	return kh_dw_add(w, KH_DF_LOST, &r, sizeof(r));
}

int kh_dw_footer(struct kh_dw *w, uint64_t t_ns, int32_t cmd_status, uint32_t reason)
{
	struct kh_df_footer r = { .t_ns = t_ns, .nr_epochs = w->nr_epochs,
				  .nr_events = w->nr_events, .nr_chunks = w->seq,
				  .cmd_status = cmd_status, .reason = reason };

	return kh_dw_add(w, KH_DF_FOOTER, &r, sizeof(r));
}

/* ---- reader ---- */

static void kh_note(struct kh_recording *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void kh_note(struct kh_recording *r, const char *fmt, ...)
{
	char **nn, *s;
	va_list ap;

	/* a damaged file must not grow an unbounded list of complaints */
	if (r->nr_notes >= 64)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s)
		return;
	nn = realloc(r->notes, (r->nr_notes + 1) * sizeof(*nn));
	if (!nn) {
		free(s);
		return;
	}
	r->notes = nn;
	r->notes[r->nr_notes++] = s;
}

/* Grow *arr (of elem bytes) to hold at least need elements. */
struct kh_rd_ctx {
	struct kh_recording *r;
	unsigned int flags;
	size_t cap_vms, cap_epochs, cap_gfns, cap_subs, cap_events, cap_lost, cap_regions;
	size_t cap_idle, cap_idle_runs;
	uint64_t unknown_first;		/* type of the first unknown record */
	uint64_t orphans;		/* GFNS/SUBPAGES before any EPOCH */
	uint64_t malformed;
	uint64_t bad_entries;		/* gfn or pid out of range */
};

/* -p NAME against a recording: the same rule as for running VMs (kh_pick_by_name). */
int kh_rd_pid_by_name(const struct kh_recording *r, const char *name, uint32_t *pid, char *why,
		       size_t whylen)
{
	struct kh_named *v = calloc(r->nr_vms ? r->nr_vms : 1, sizeof(*v));
	size_t n = 0;
	int err;

	if (!v) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < r->nr_vms; i++)
		if (r->vms[i].ident.source)
			v[n++] = (struct kh_named){ r->vms[i].pid, &r->vms[i].ident };
	err = kh_pick_by_name(v, n, name, pid, why, whylen);
	free(v);
	return err;
}

struct kh_rd_vm *kh_rd_find_vm(struct kh_recording *r, uint32_t pid)
{
	for (size_t i = 0; i < r->nr_vms; i++)
		if (r->vms[i].pid == pid)
			return &r->vms[i];
	return NULL;
}

static struct kh_rd_vm *kh_rd_vm_get(struct kh_rd_ctx *c, uint32_t pid, uint64_t kvm)
{
	struct kh_recording *r = c->r;
	struct kh_rd_vm *v;

	/* a VM is its pid; a second VM in one process shares the row */
	v = kh_rd_find_vm(r, pid);
	if (v)
		return v;
	if (kh_grow(&r->vms, &c->cap_vms, r->nr_vms + 1, sizeof(*r->vms)))
		return NULL;
	v = &r->vms[r->nr_vms++];
	memset(v, 0, sizeof(*v));
	v->pid = pid;
	v->kvm = kvm;
	return v;
}

static void kh_rd_time(struct kh_recording *r, uint64_t t)
{
	if (t && (!r->t_start || t < r->t_start) && !json_object_get(r->header, "start_ns"))
		r->t_start = t;
}

static int kh_rd_header(struct kh_rd_ctx *c, const uint8_t *p, size_t size)
{
	struct kh_recording *r = c->r;
	json_error_t je = { .text = "not an object" };
	json_t *h;

	p += sizeof(struct kh_rec_hdr);
	size -= sizeof(struct kh_rec_hdr);
	h = json_loadb((const char *)p, size, 0, &je);
	if (!h || !json_is_object(h)) {
		json_decref(h);
		kh_note(r, "header record is not a JSON object (%s); header fields unknown",
			je.text);
		return 0;
	}
	json_decref(r->header);
	r->header = h;
	if (json_is_integer(json_object_get(h, "start_ns")))
		r->t_start = json_integer_value(json_object_get(h, "start_ns"));
	return 0;
}

/* The 1.1 name tail after the slots at @off, if the record has one; sanitised again. */
static void kh_rd_vm_ident(struct kh_rd_vm *rv, const uint8_t *p, size_t size, size_t off)
{
	struct kh_df_vm_ident vi;
	const char *z;

	if (size < off || size - off < sizeof(vi))
		return;
	memcpy(&vi, p + off, sizeof(vi));
	if (!vi.name_source || vi.name_source > KH_NAME_LIBVIRT)
		return;
	z = memchr(vi.name, 0, sizeof(vi.name));
	kh_name_sanitize(rv->ident.name, sizeof(rv->ident.name), vi.name,
			 z ? (size_t)(z - vi.name) : sizeof(vi.name));
	z = memchr(vi.uuid, 0, sizeof(vi.uuid));
	if (kh_uuid_parse(vi.uuid, z ? (size_t)(z - vi.uuid) : sizeof(vi.uuid), rv->ident.uuid))
		rv->ident.uuid[0] = 0;
	rv->ident.source = rv->ident.name[0] ? vi.name_source : KH_NAME_NONE;
}

static int kh_rd_vm(struct kh_rd_ctx *c, const uint8_t *p, size_t size)
{
	struct kh_df_vm v;
	struct kh_rd_vm *rv;
	size_t ss;

	memcpy(&v, p, sizeof(v));
	ss = v.slot_size;
	if (ss < sizeof(struct kh_slot) || (size - sizeof(v)) / ss < v.nr_slots) {
		c->malformed++;
		return 0;
	}
	rv = kh_rd_vm_get(c, v.pid, v.kvm);
	if (!rv)
		return -ENOMEM;
	kh_rd_time(c->r, v.t_ns);
	/* a placeholder for counts of an unseen VM says nothing about a described one */
	if ((v.flags & KH_DFV_UNDISCOVERED) && (rv->kvm || rv->nr_slots))
		return 0;
	if (!rv->t_appear || v.t_ns < rv->t_appear)
		rv->t_appear = v.t_ns;
	if (!rv->flags && !rv->nr_slots)
		rv->flags = v.flags;
	rv->kvm = v.kvm;
	rv->nr_vcpus = v.nr_vcpus;
	memcpy(rv->comm, v.comm, sizeof(v.comm));
	rv->comm[16] = 0;
	kh_rd_vm_ident(rv, p, size, sizeof(v) + (size_t)v.nr_slots * ss);
	rv->t_exit = 0;
	/* memslots: the union over the recording, one entry per (as_id, id, base) */
	for (size_t i = 0; i < v.nr_slots; i++) {
		struct kh_slot s;
		bool dup = false;

		memcpy(&s, p + sizeof(v) + i * ss, sizeof(s));
		for (size_t j = 0; j < rv->nr_slots && !dup; j++) {
			const struct kh_slot *o = &rv->slots[j];

			dup = o->as_id == s.as_id && o->base_gfn == s.base_gfn &&
			      o->npages == s.npages;
		}
		if (dup)
			continue;
		if (kh_grow(&rv->slots, &rv->slots_cap, rv->nr_slots + 1, sizeof(*rv->slots)))
			return -ENOMEM;
		rv->slots[rv->nr_slots++] = s;
	}
	return 0;
}

static int kh_rd_regions(struct kh_rd_ctx *c, const uint8_t *p, size_t size)
{
	struct kh_recording *r = c->r;
	struct kh_df_batch b;

	memcpy(&b, p, sizeof(b));
	if (b.ent_size < sizeof(struct kh_df_region) || (size - sizeof(b)) / b.ent_size < b.n) {
		c->malformed++;
		return 0;
	}
	if (!r->nr_epochs) {
		c->orphans += b.n;
		return 0;
	}
	if (kh_grow(&r->regions, &c->cap_regions, r->nr_regions + b.n, sizeof(*r->regions)))
		return -ENOMEM;
	for (size_t i = 0; i < b.n; i++) {
		struct kh_rd_region *o = &r->regions[r->nr_regions];

		memcpy(&o->d, p + sizeof(b) + i * b.ent_size, sizeof(o->d));
		/* a check is never young more often than it happened */
		if (o->d.coarse_young > o->d.coarse_aged || o->d.coarse_aged > o->d.aged ||
		    o->d.idx >> (KH_GFN_BITS - KH_REGION_SHIFT)) {
			c->malformed++;
			continue;
		}
		o->pid = b.pid;
		o->epoch = r->nr_epochs - 1;
		r->nr_regions++;
		r->epochs[o->epoch].nr_regions++;
	}
	return 0;
}

/* IDLE_SCAN (1.2): belongs to the epoch read last; its runs follow. */
static int kh_rd_idle_scan(struct kh_rd_ctx *c, const uint8_t *p)
{
	struct kh_recording *r = c->r;
	struct kh_df_idle_scan v;
	struct kh_rd_idle *o;

	memcpy(&v, p, sizeof(v));
	if (!r->nr_epochs) {
		c->orphans++;
		return 0;
	}
	if (!v.scan) {	/* a driver id this kvmheat does not know is kept: named "unknown" */
		c->malformed++;
		return 0;
	}
	if (kh_grow(&r->idle, &c->cap_idle, r->nr_idle + 1, sizeof(*r->idle)))
		return -ENOMEM;
	o = &r->idle[r->nr_idle++];
	*o = (struct kh_rd_idle){ .pid = v.pid, .epoch = (uint32_t)(r->nr_epochs - 1),
				  .t_ns = v.t_ns, .scan = v.scan, .driver = v.driver,
				  .flags = v.flags, .interval_ms = v.interval_ms,
				  .want_runs = v.nr_runs, .first_run = r->nr_idle_runs };
	r->epochs[o->epoch].nr_idle++;
	return 0;
}

/* IDLE_RUNS: only after its own VM's IDLE_SCAN, ascending, within its count. */
static int kh_rd_idle_runs(struct kh_rd_ctx *c, const uint8_t *p, size_t size)
{
	struct kh_recording *r = c->r;
	struct kh_rd_idle *s = r->nr_idle ? &r->idle[r->nr_idle - 1] : NULL;
	struct kh_df_batch b;

	memcpy(&b, p, sizeof(b));
	if (b.ent_size < sizeof(struct kh_df_idle_run) || (size - sizeof(b)) / b.ent_size < b.n ||
	    !s || s->pid != b.pid || s->first_run + s->nr_runs != r->nr_idle_runs ||
	    s->nr_runs + b.n > s->want_runs) {
		c->malformed++;
		return 0;
	}
	if (kh_grow(&r->idle_runs, &c->cap_idle_runs, r->nr_idle_runs + b.n,
		    sizeof(*r->idle_runs)))
		return -ENOMEM;
	for (size_t i = 0; i < b.n; i++) {
		struct kh_df_idle_run e;
		const struct kh_df_idle_run *prev = s->nr_runs ? &r->idle_runs[r->nr_idle_runs - 1]
							       : NULL;

		memcpy(&e, p + sizeof(b) + i * b.ent_size, sizeof(e));
		/* a run past 52-bit gfns, empty, over another or of an impossible age */
		if (!e.npages || e.gfn >> KH_GFN_BITS || (e.gfn + e.npages) >> KH_GFN_BITS ||
		    e.age > KH_IDLE_MAX || (prev && e.gfn < prev->gfn + prev->npages)) {
			c->bad_entries++;
			continue;
		}
		r->idle_runs[r->nr_idle_runs++] = e;
		s->nr_runs++;
	}
	return 0;
}

static int kh_rd_batch(struct kh_rd_ctx *c, uint16_t type, const uint8_t *p, size_t size)
{
	struct kh_recording *r = c->r;
	struct kh_df_batch b;
	bool gfns = type == KH_DF_GFNS;
	size_t want = gfns ? sizeof(struct kh_df_gfn) : sizeof(struct kh_df_subpage);
	struct kh_rd_epoch *e;

	memcpy(&b, p, sizeof(b));
	if (b.ent_size < want || (size - sizeof(b)) / b.ent_size < b.n) {
		c->malformed++;
		return 0;
	}
	if (!r->nr_epochs) {
		c->orphans += b.n;
		return 0;
	}
	e = &r->epochs[r->nr_epochs - 1];
	p += sizeof(b);
	if (gfns) {
		size_t before = r->nr_gfns;

		if (kh_grow(&r->gfns, &c->cap_gfns, r->nr_gfns + b.n, sizeof(*r->gfns)))
			return -ENOMEM;
		for (size_t i = 0; i < b.n; i++) {
			struct kh_df_gfn g;
			struct kh_rd_gfn *o = &r->gfns[r->nr_gfns++];

			memcpy(&g, p + i * b.ent_size, sizeof(g));
			if (g.gfn >> KH_GFN_BITS || b.pid >> (64 - KH_GFN_BITS)) {
				/* beyond 52-bit physical addresses: not from a real guest */
				r->nr_gfns--;
				c->bad_entries++;
				continue;
			}
			o->gfn = g.gfn;
			o->pid = b.pid;
			o->epoch = r->nr_epochs - 1;
			o->d = g.d;
		}
		e->nr_gfns += r->nr_gfns - before;
	} else {
		if (kh_grow(&r->subs, &c->cap_subs, r->nr_subs + b.n, sizeof(*r->subs)))
			return -ENOMEM;
		for (size_t i = 0; i < b.n; i++) {
			struct kh_df_subpage s;
			struct kh_rd_sub *o = &r->subs[r->nr_subs++];

			memcpy(&s, p + i * b.ent_size, sizeof(s));
			o->gfn = s.gfn;
			o->pid = b.pid;
			o->epoch = r->nr_epochs - 1;
			memcpy(o->cnt, s.cnt, sizeof(o->cnt));
		}
		e->nr_subs += b.n;
	}
	return 0;
}

/* Smallest size of each known record type in format 1.0. */
static size_t kh_rd_min_size(uint16_t type)
{
	switch (type) {
	case KH_DF_HEADER:
		return sizeof(struct kh_rec_hdr);
	case KH_DF_SOURCE:
		return sizeof(struct kh_df_source) + 1;
	case KH_DF_VM:
		return sizeof(struct kh_df_vm);
	case KH_DF_VM_EXIT:
		return sizeof(struct kh_df_vm_exit);
	case KH_DF_EPOCH:
		return sizeof(struct kh_df_epoch);
	case KH_DF_GFNS:
	case KH_DF_SUBPAGES:
	case KH_DF_REGIONS:
	case KH_DF_IDLE_RUNS:
		return sizeof(struct kh_df_batch);
	case KH_DF_IDLE_SCAN:
		return sizeof(struct kh_df_idle_scan);
	case KH_DF_STATS:
		return sizeof(struct kh_df_stats);
	case KH_DF_LOST:
		return sizeof(struct kh_df_lost);
	case KH_DF_FOOTER:
		return sizeof(struct kh_df_footer);
	case KH_DF_NOTE:
		return sizeof(struct kh_rec_hdr) + 1;
	case KH_REC_EVENT:
		return sizeof(struct kh_event);
	default:
		return 0;
	}
}

static int kh_rd_source(struct kh_rd_ctx *c, const uint8_t *p, size_t size)
{
	struct kh_recording *r = c->r;
	struct kh_df_source s;
	size_t dl = size - sizeof(s);

	memcpy(&s, p, sizeof(s));
	if (s.source >= KH_SRC_MAX)
		return 0;	/* a source a newer kvmheat knows */
	r->sources[s.source].present = true;
	r->sources[s.source].flags = s.flags;
	if (dl >= sizeof(r->sources[0].desc))
		dl = sizeof(r->sources[0].desc) - 1;
	memcpy(r->sources[s.source].desc, p + sizeof(s), dl);
	r->sources[s.source].desc[dl] = 0;
	return 0;
}

static int kh_rd_vm_exit(struct kh_rd_ctx *c, const uint8_t *p)
{
	struct kh_df_vm_exit x;
	struct kh_rd_vm *v;

	memcpy(&x, p, sizeof(x));
	v = kh_rd_vm_get(c, x.pid, x.kvm);
	if (!v)
		return -ENOMEM;
	v->t_exit = x.t_ns;
	return 0;
}

static int kh_rd_epoch(struct kh_rd_ctx *c, const uint8_t *p)
{
	struct kh_recording *r = c->r;
	struct kh_df_epoch e;

	memcpy(&e, p, sizeof(e));
	if (kh_grow(&r->epochs, &c->cap_epochs, r->nr_epochs + 1, sizeof(*r->epochs)))
		return -ENOMEM;
	r->epochs[r->nr_epochs++] = (struct kh_rd_epoch){
		.index = e.index, .t0 = e.t_start_ns, .t1 = e.t_end_ns,
		.want_gfns = e.nr_gfns, .want_subpages = e.nr_subpages,
		.first_gfn = r->nr_gfns, .first_sub = r->nr_subs,
		.first_region = r->nr_regions, .first_idle = r->nr_idle,
	};
	kh_rd_time(r, e.t_start_ns);
	return 0;
}

static int kh_rd_stats(struct kh_rd_ctx *c, const uint8_t *p, size_t size)
{
	struct kh_recording *r = c->r;
	struct kh_df_stats s;

	memcpy(&s, p, sizeof(s));
	if ((size - sizeof(s)) / sizeof(uint64_t) < (size_t)s.nr_src * s.nr_stat) {
		c->malformed++;
		return 0;
	}
	/* take the sources and counters this reader knows */
	memset(r->stats, 0, sizeof(r->stats));
	for (unsigned int i = 0; i < s.nr_src && i < KH_SRC_MAX; i++)
		for (unsigned int k = 0; k < s.nr_stat && k < KH_STAT_MAX; k++)
			memcpy(&r->stats[i * KH_STAT_MAX + k],
			       p + sizeof(s) + (i * s.nr_stat + k) * sizeof(uint64_t),
			       sizeof(uint64_t));
	r->has_stats = true;
	return 0;
}

static int kh_rd_lost_rec(struct kh_rd_ctx *c, const uint8_t *p)
{
	struct kh_recording *r = c->r;
	struct kh_df_lost l;

	memcpy(&l, p, sizeof(l));
	if (kh_grow(&r->lost, &c->cap_lost, r->nr_lost + 1, sizeof(*r->lost)))
		return -ENOMEM;
	r->lost[r->nr_lost++] = (struct kh_rd_lost){
		.t_ns = l.t_ns, .source = l.source, .stat = l.stat, .lost = l.lost,
		.total = l.total,
	};
	return 0;
}

static int kh_rd_event(struct kh_rd_ctx *c, const uint8_t *p)
{
	struct kh_recording *r = c->r;

	r->nr_events++;
	if (!(c->flags & KH_RD_EVENTS))
		return 0;	/* counted, not kept */
	if (kh_grow(&r->events, &c->cap_events, r->nr_events, sizeof(*r->events)))
		return -ENOMEM;
	memcpy(&r->events[r->nr_events - 1], p, sizeof(struct kh_event));
	return 0;
}

/* The recorder's words, but still file bytes: bounded and sanitised. */
static int kh_rd_note(struct kh_rd_ctx *c, const uint8_t *p, size_t size)
{
	size_t n = size - sizeof(struct kh_rec_hdr);
	char t[1024];

	kh_name_sanitize(t, sizeof(t), (const char *)p + sizeof(struct kh_rec_hdr),
			 n < sizeof(t) - 1 ? n : sizeof(t) - 1);
	kh_note(c->r, "recorder: %s", t);
	return 0;
}

/* One record, by type; unknown types are counted and skipped, short ones counted. */
static int kh_rd_record(struct kh_rd_ctx *c, uint16_t type, const uint8_t *p, size_t size)
{
	struct kh_recording *r = c->r;
	size_t min = kh_rd_min_size(type);

	if (!min) {
		if (!r->unknown_records++)
			c->unknown_first = type;
		return 0;
	}
	if (size < min) {
		c->malformed++;
		return 0;
	}
	switch (type) {
	case KH_DF_HEADER:
		return kh_rd_header(c, p, size);
	case KH_DF_SOURCE:
		return kh_rd_source(c, p, size);
	case KH_DF_VM:
		return kh_rd_vm(c, p, size);
	case KH_DF_VM_EXIT:
		return kh_rd_vm_exit(c, p);
	case KH_DF_EPOCH:
		return kh_rd_epoch(c, p);
	case KH_DF_GFNS:
	case KH_DF_SUBPAGES:
		return kh_rd_batch(c, type, p, size);
	case KH_DF_REGIONS:
		return kh_rd_regions(c, p, size);
	case KH_DF_IDLE_SCAN:
		return kh_rd_idle_scan(c, p);
	case KH_DF_IDLE_RUNS:
		return kh_rd_idle_runs(c, p, size);
	case KH_DF_NOTE:
		return kh_rd_note(c, p, size);
	case KH_DF_STATS:
		return kh_rd_stats(c, p, size);
	case KH_DF_LOST:
		return kh_rd_lost_rec(c, p);
	case KH_DF_FOOTER:
		memcpy(&r->footer, p, sizeof(r->footer));
		r->has_footer = true;
		return 0;
	case KH_REC_EVENT:
		return kh_rd_event(c, p);
	}
	return 0;
}

/* Records of one inflated chunk; a bad length ends the chunk, not the file. */
static int kh_rd_records(struct kh_rd_ctx *c, const uint8_t *p, size_t len, uint32_t seq,
			 uint64_t at)
{
	size_t off = 0;

	while (off < len) {
		struct kh_rec_hdr h;
		int err;

		if (len - off < sizeof(h) || (memcpy(&h, p + off, sizeof(h)), h.size < sizeof(h)) ||
		    h.size > len - off) {
			kh_note(c->r, "chunk %u at byte %" PRIu64 ": malformed record at offset "
				"%zu; the rest of this chunk was skipped", seq, at, off);
			return 0;
		}
		err = kh_rd_record(c, h.type, p + off, h.size);
		if (err)
			return err;
		off += h.size;
	}
	return 0;
}

static bool kh_chunk_hdr_ok(const uint8_t *p, size_t left, struct kh_df_chunk *c)
{
	if (left < sizeof(*c))
		return false;
	memcpy(c, p, sizeof(*c));
	return c->magic == KH_DF_CHUNK_MAGIC &&
	       c->hdr_crc == crc32(0, (const Bytef *)c, offsetof(struct kh_df_chunk, hdr_crc)) &&
	       c->raw_len <= KH_DF_MAX_RAW && c->comp_len <= compressBound(c->raw_len) + 64;
}

/* The next offset after @from where a valid chunk header starts, or @len. */
static size_t kh_resync(const uint8_t *buf, size_t len, size_t from)
{
	static const uint8_t m[4] = { 'K', 'H', 'C', 'K' };

	while (from < len) {
		const uint8_t *q = memmem(buf + from, len - from, m, sizeof(m));
		struct kh_df_chunk c;

		if (!q)
			return len;
		if (kh_chunk_hdr_ok(q, len - (q - buf), &c))
			return q - buf;
		from = q - buf + 1;
	}
	return len;
}

/*
 * Inflate one chunk's zlib stream.  Its bytes are already covered by the
 * chunk's crc32, so the stream's own adler32 trailer is not recomputed:
 * that check was 30% of a report's time.  The stream is inflated raw after
 * its two header bytes, which must still say deflate with no dictionary.
 */
static int kh_inflate(uint8_t *dst, uLongf *dlen, const uint8_t *src, size_t slen)
{
	z_stream z = { .next_in = (Bytef *)src + 2, .avail_in = slen > 2 ? slen - 2 : 0,
		       .next_out = dst, .avail_out = *dlen };
	int ret;

	if (slen < 2 || (src[0] & 0x0f) != Z_DEFLATED || (src[0] >> 4) > 7 ||
	    (src[1] & 0x20) || ((src[0] << 8) | src[1]) % 31)
		return -EBADMSG;
	if (inflateInit2(&z, -15) != Z_OK)
		return -ENOMEM;
	ret = inflate(&z, Z_FINISH);
	*dlen = z.total_out;
	inflateEnd(&z);
	return ret == Z_STREAM_END ? 0 : -EBADMSG;
}

/* The file header: magic, checksum, a major version this reader knows. */
static int kh_rd_filehdr(const uint8_t *buf, size_t len, struct kh_recording *r, char *why,
			 size_t whylen)
{
	struct kh_df_filehdr fh;

	if (len < sizeof(fh.magic) ? memcmp(buf, KH_DF_MAGIC, len) :
	    memcmp(buf, KH_DF_MAGIC, sizeof(fh.magic))) {
		snprintf(why, whylen, "not a kvmheat recording (no KVMHEAT magic at byte 0)");
		return -EBADMSG;
	}
	if (len < sizeof(fh)) {
		snprintf(why, whylen, "recording cut at byte %zu, inside its %zu-byte file header: "
			 "nothing was recorded", len, sizeof(fh));
		return -EBADMSG;
	}
	memcpy(&fh, buf, sizeof(fh));
	if (fh.crc != crc32(0, (const Bytef *)&fh, offsetof(struct kh_df_filehdr, crc)) ||
	    fh.hdr_size < sizeof(fh) || fh.hdr_size > len) {
		snprintf(why, whylen, "damaged file header (checksum or size wrong)");
		return -EBADMSG;
	}
	if (fh.major != KH_DF_MAJOR) {
		snprintf(why, whylen, "recording format %u.%u is not readable by kvmheat %s "
			 "(reads %u.x)", fh.major, fh.minor, KH_VERSION, KH_DF_MAJOR);
		return -EPROTONOSUPPORT;
	}
	r->major = fh.major;
	r->minor = fh.minor;
	r->cut_at = fh.hdr_size;
	return 0;
}

/*
 * A chunk header that does not check out: the unfinished tail (true), or
 * damage, skipped to the next valid chunk header at *@off.
 */
static bool kh_rd_bad_chunk(struct kh_recording *r, const uint8_t *buf, size_t len, size_t *off)
{
	size_t next;

	if (len - *off < sizeof(struct kh_df_chunk) ||
	    (!memcmp(buf + *off, "KHCK", 4) && kh_resync(buf, len, *off + 1) == len)) {
		r->cut = true;	/* the tail: a chunk the writer never finished */
		return true;
	}
	next = kh_resync(buf, len, *off + 1);
	r->chunks_bad++;
	kh_note(r, "damaged chunk header at byte %zu: bytes %zu-%zu skipped", *off, *off,
		next - 1);
	*off = next;
	return false;
}

/* Every chunk after the file header: checked, inflated, its records read. */
static int kh_rd_chunks(struct kh_rd_ctx *c, const uint8_t *buf, size_t len)
{
	struct kh_recording *r = c->r;
	size_t off = r->cut_at, raw_cap = 0;
	uint8_t *raw = NULL;
	int err = 0;

	while (off < len) {
		struct kh_df_chunk ch;
		uLongf rl;

		if (!kh_chunk_hdr_ok(buf + off, len - off, &ch)) {
			if (kh_rd_bad_chunk(r, buf, len, &off))
				break;
			continue;
		}
		if (ch.comp_len > len - off - sizeof(ch)) {
			r->cut = true;
			break;
		}
		if (ch.data_crc != crc32(0, buf + off + sizeof(ch), ch.comp_len)) {
			r->chunks_bad++;
			kh_note(r, "chunk %u at byte %zu: checksum mismatch, its %u bytes of "
				"records were skipped", ch.seq, off, ch.raw_len);
			off += sizeof(ch) + ch.comp_len;
			r->cut_at = off;
			continue;
		}
		/* as big as the largest chunk so far, not the 16 MiB a chunk may be */
		if (kh_grow(&raw, &raw_cap, ch.raw_len ? ch.raw_len : 1, 1)) {
			err = -ENOMEM;
			break;
		}
		rl = ch.raw_len;
		if (kh_inflate(raw, &rl, buf + off + sizeof(ch), ch.comp_len) ||
		    rl != ch.raw_len) {
			r->chunks_bad++;
			kh_note(r, "chunk %u at byte %zu: does not inflate to its %u bytes; "
				"skipped", ch.seq, off, ch.raw_len);
		} else {
			err = kh_rd_records(c, raw, rl, ch.seq, off);
			if (err)
				break;
			r->chunks_ok++;
		}
		off += sizeof(ch) + ch.comp_len;
		r->cut_at = off;
	}
	free(raw);
	return err;
}

/* What the reader noticed, as notes report shows. */
static void kh_rd_notes(const struct kh_rd_ctx *c, size_t len)
{
	struct kh_recording *r = c->r;

	if (r->cut)
		kh_note(r, "file cut at byte %zu inside a chunk that starts at byte %" PRIu64
			" (the recorder was killed or the disk filled); everything before it "
			"was read", len, r->cut_at);
	if (!r->has_footer)
		kh_note(r, "no end record: the recording did not finish cleanly; read %u complete "
			"chunk%s up to byte %" PRIu64, r->chunks_ok, r->chunks_ok == 1 ? "" : "s",
			r->cut_at);
	if (!r->header)
		kh_note(r, "the header record is missing: host and command line unknown");
	for (size_t i = 0; i < r->nr_epochs; i++) {
		struct kh_rd_epoch *e = &r->epochs[i];

		if (e->nr_gfns < e->want_gfns || e->nr_subs < e->want_subpages)
			kh_note(r, "epoch %u is incomplete: %zu of %" PRIu64 " gfn entries, "
				"%zu of %" PRIu64 " sub-page entries", e->index, e->nr_gfns,
				e->want_gfns, e->nr_subs, e->want_subpages);
	}
	for (size_t i = 0; i < r->nr_idle; i++)
		if (r->idle[i].nr_runs < r->idle[i].want_runs)
			kh_note(r, "idle scan %u of VM %u is incomplete: %zu of %" PRIu64 " runs",
				r->idle[i].scan, r->idle[i].pid, r->idle[i].nr_runs,
				r->idle[i].want_runs);
	if (r->unknown_records)
		kh_note(r, "skipped %" PRIu64 " record%s of types this kvmheat does not know "
			"(first 0x%" PRIx64 "; written by format %u.%u)", r->unknown_records,
			r->unknown_records == 1 ? "" : "s", c->unknown_first, r->major, r->minor);
	if (c->malformed)
		kh_note(r, "skipped %" PRIu64 " malformed record%s", c->malformed,
			c->malformed == 1 ? "" : "s");
	if (c->bad_entries)
		kh_note(r, "skipped %" PRIu64 " gfn entries with impossible gfns or pids",
			c->bad_entries);
	if (c->orphans)
		kh_note(r, "skipped %" PRIu64 " gfn entries that came before any epoch",
			c->orphans);
}

int kh_df_read_mem(const void *vbuf, size_t len, unsigned int flags, struct kh_recording *r,
		   char *why, size_t whylen)
{
	struct kh_rd_ctx c = { .r = r, .flags = flags };
	int err;

	memset(r, 0, sizeof(*r));
	r->size = len;
	err = kh_rd_filehdr(vbuf, len, r, why, whylen);
	if (err)
		return err;
	err = kh_rd_chunks(&c, vbuf, len);
	if (err) {
		snprintf(why, whylen, "reading the recording: %s", strerror(-err));
		kh_rd_free(r);
		return err;
	}
	kh_rd_notes(&c, len);
	return 0;
}

int kh_df_read_file(const char *path, unsigned int flags, struct kh_recording *r, char *why,
		    size_t whylen)
{
	struct stat st;
	void *map;
	int fd, err;

	memset(r, 0, sizeof(*r));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		snprintf(why, whylen, "cannot open %s: %s", path, strerror(-err));
		return err;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		snprintf(why, whylen, "cannot stat %s: %s", path, strerror(-err));
		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(why, whylen, "%s is not a regular file", path);
		return -EINVAL;
	}
	if (st.st_size == 0) {
		close(fd);
		snprintf(why, whylen, "%s is empty: not a kvmheat recording", path);
		return -EBADMSG;
	}
	map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		err = -errno;
		snprintf(why, whylen, "cannot map %s: %s", path, strerror(-err));
		return err;
	}
	err = kh_df_read_mem(map, st.st_size, flags, r, why, whylen);
	munmap(map, st.st_size);
	return err;
}

void kh_rd_free(struct kh_recording *r)
{
	json_decref(r->header);
	for (size_t i = 0; i < r->nr_vms; i++)
		free(r->vms[i].slots);
	free(r->vms);
	free(r->epochs);
	free(r->gfns);
	free(r->subs);
	free(r->regions);
	free(r->idle);
	free(r->idle_runs);
	free(r->events);
	free(r->lost);
	for (size_t i = 0; i < r->nr_notes; i++)
		free(r->notes[i]);
	free(r->notes);
	memset(r, 0, sizeof(*r));
}

/* ---- views ---- */

void kh_rd_filter_init(struct kh_rd_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->gfn_hi = UINT64_MAX;
}

double kh_rd_secs(const struct kh_recording *r, uint64_t t_ns)
{
	return t_ns >= r->t_start ? (t_ns - r->t_start) / 1e9 : -((r->t_start - t_ns) / 1e9);
}

/* An epoch is wanted when its time span overlaps [t0, t1]. */
bool kh_rd_epoch_wanted(const struct kh_recording *r, const struct kh_rd_filter *f, size_t e)
{
	if (!f->time_set)
		return true;
	return kh_rd_secs(r, r->epochs[e].t1) > f->t0 && kh_rd_secs(r, r->epochs[e].t0) <= f->t1;
}

bool kh_rd_gfn_wanted(const struct kh_rd_filter *f, uint32_t pid, uint64_t gfn)
{
	return (!f->pid || pid == f->pid) && gfn >= f->gfn_lo && gfn <= f->gfn_hi;
}

/* Binary search in totals sorted by (pid, gfn). */
static struct kh_gfn_stat *kh_find(struct kh_gfn_stat *g, size_t n, uint32_t pid, uint64_t gfn)
{
	struct kh_gfn_stat key = { .pid = pid, .gfn = gfn };

	return bsearch(&key, g, n, sizeof(*g), kh_pidgfn_cmp);
}

struct kh_keyidx {
	uint64_t key;		/* pid << 40 | gfn: sorts as (pid, gfn) */
	uint64_t idx;		/* into r->gfns */
};

/*
 * LSD radix sort, 16 bits a pass, skipping passes where every key has the
 * same digit: a big recording has tens of millions of entries, and a
 * comparison sort of them dominated report's run time.
 */
static int kh_keyidx_cmp(const void *x, const void *y)
{
	const struct kh_keyidx *a = x, *b = y;

	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int kh_radix(struct kh_keyidx *a, size_t n)
{
	struct kh_keyidx *tmp, *src = a, *dst;
	size_t *cnt;

	/*
	 * Four passes over 64 Ki counters cost more than sorting a small
	 * table; ties are ordered by index, as the stable radix sort leaves them.
	 */
	if (n < 4096) {
		qsort(a, n, sizeof(*a), kh_keyidx_cmp);
		return 0;
	}
	tmp = malloc(n * sizeof(*tmp));
	dst = tmp;
	cnt = malloc(65536 * sizeof(*cnt));

	if (!tmp || !cnt) {
		free(tmp);
		free(cnt);
		return -ENOMEM;
	}
	for (int shift = 0; shift < 64; shift += 16) {
		size_t sum = 0;
		bool one = false;

		memset(cnt, 0, 65536 * sizeof(*cnt));
		for (size_t i = 0; i < n; i++)
			cnt[(src[i].key >> shift) & 0xffff]++;
		for (size_t d = 0; d < 65536 && !one; d++)
			one = cnt[d] == n;
		if (one)
			continue;
		for (size_t d = 0; d < 65536; d++) {
			size_t c = cnt[d];

			cnt[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[cnt[(src[i].key >> shift) & 0xffff]++] = src[i];
		src = dst;
		dst = src == a ? tmp : a;
	}
	if (src != a)
		memcpy(a, src, n * sizeof(*a));
	free(tmp);
	free(cnt);
	return 0;
}

int kh_rd_totals(const struct kh_recording *r, const struct kh_rd_filter *f, struct kh_gfn_stat **out,
		  size_t *n)
{
	struct kh_keyidx *k;
	struct kh_gfn_stat *g;
	size_t len = 0, m = 0;
	int err;

	*out = NULL;
	*n = 0;
	for (size_t e = 0; e < r->nr_epochs; e++)
		if (kh_rd_epoch_wanted(r, f, e))
			len += r->epochs[e].nr_gfns;
	k = malloc((len ? len : 1) * sizeof(*k));
	if (!k)
		return -ENOMEM;
	len = 0;
	for (size_t e = 0; e < r->nr_epochs; e++) {
		const struct kh_rd_epoch *ep = &r->epochs[e];

		if (!kh_rd_epoch_wanted(r, f, e))
			continue;
		for (size_t i = ep->first_gfn; i < ep->first_gfn + ep->nr_gfns; i++) {
			const struct kh_rd_gfn *s = &r->gfns[i];

			/* the reader refused gfns and pids that do not fit the key */
			if (!kh_rd_gfn_wanted(f, s->pid, s->gfn))
				continue;
			k[len].key = (uint64_t)s->pid << KH_GFN_BITS | s->gfn;
			k[len++].idx = i;
		}
	}
	err = kh_radix(k, len);
	for (size_t i = 0; !err && i < len; i++)
		m += !i || k[i].key != k[i - 1].key;
	g = err ? NULL : malloc((m ? m : 1) * sizeof(*g));
	if (!g) {
		free(k);
		return err ? err : -ENOMEM;
	}
	m = 0;
	/* fold equal (pid, gfn) runs into one entry */
	for (size_t i = 0; i < len; i++) {
		const struct kh_rd_gfn *s = &r->gfns[k[i].idx];
		struct kh_gfn_stat *d;

		if (i && k[i].key == k[i - 1].key) {
			kh_counts_add(&g[m - 1].c, &s->d);
			continue;
		}
		d = &g[m++];
		d->pid = s->pid;
		d->gfn = s->gfn;
		d->c = s->d;
		d->has_subpages = false;
	}
	free(k);
	for (size_t e = 0; e < r->nr_epochs; e++) {
		const struct kh_rd_epoch *ep = &r->epochs[e];

		if (!kh_rd_epoch_wanted(r, f, e))
			continue;
		for (size_t i = ep->first_sub; i < ep->first_sub + ep->nr_subs; i++) {
			const struct kh_rd_sub *s = &r->subs[i];
			struct kh_gfn_stat *d;

			if (!kh_rd_gfn_wanted(f, s->pid, s->gfn))
				continue;
			d = kh_find(g, m, s->pid, s->gfn);
			if (!d)
				continue;
			if (!d->has_subpages)
				memset(&d->sp, 0, sizeof(d->sp));
			d->has_subpages = true;
			for (int c = 0; c < KH_SUBPAGES; c++)
				d->sp.cnt[c] += s->cnt[c];
		}
	}
	*out = g;
	*n = m;
	return 0;
}

int kh_rd_region_cmp(const void *a, const void *b)
{
	const struct kh_rd_region *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->d.idx < y->d.idx ? -1 : x->d.idx > y->d.idx;
}

void kh_rd_coarse(const struct kh_recording *r, const struct kh_rd_filter *f, uint32_t pid,
		   struct kh_coarse *c)
{
	struct kh_rd_region *v = malloc((r->nr_regions ? r->nr_regions : 1) * sizeof(*v));
	size_t n = 0;

	memset(c, 0, sizeof(*c));
	if (!v)
		return;
	for (size_t i = 0; i < r->nr_regions; i++)
		if ((!pid || r->regions[i].pid == pid) && kh_rd_epoch_wanted(r, f, r->regions[i].epoch))
			v[n++] = r->regions[i];
	qsort(v, n, sizeof(*v), kh_rd_region_cmp);
	/* one region's epochs summed, then judged as a whole */
	for (size_t i = 0, k; i < n; i = k) {
		struct kh_df_region t = v[i].d;

		for (k = i + 1; k < n && !kh_rd_region_cmp(&v[k], &v[i]); k++) {
			t.aged += v[k].d.aged;
			t.coarse_aged += v[k].d.coarse_aged;
			t.coarse_young += v[k].d.coarse_young;
			if (v[k].d.coarse_pages > t.coarse_pages)
				t.coarse_pages = v[k].d.coarse_pages;
		}
		kh_coarse_add(c, t.aged, t.coarse_aged, t.coarse_young, t.coarse_pages);
	}
	free(v);
}

const struct kh_rd_idle *kh_rd_idle_last(const struct kh_recording *r, const struct kh_rd_filter *f,
					 uint32_t pid)
{
	for (size_t i = r->nr_idle; i-- > 0;) {
		const struct kh_rd_idle *s = &r->idle[i];

		if ((pid && s->pid != pid) || (f->pid && s->pid != f->pid))
			continue;
		if (kh_rd_epoch_wanted(r, f, s->epoch))
			return s;
	}
	return NULL;
}

uint64_t kh_rd_idle_clip(const struct kh_recording *r, const struct kh_rd_filter *f,
			 const struct kh_rd_idle *s, size_t i, uint64_t *first)
{
	const struct kh_df_idle_run *e = &r->idle_runs[s->first_run + i];
	uint64_t lo = e->gfn, hi = e->gfn + e->npages - 1;

	if (f->gfn_lo > f->gfn_hi)
		return 0;
	if (lo < f->gfn_lo)
		lo = f->gfn_lo;
	if (hi > f->gfn_hi)
		hi = f->gfn_hi;
	*first = lo;
	return lo <= hi ? hi - lo + 1 : 0;
}
