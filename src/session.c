// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Lifecycle of the main BPF object: discover VMs, probe, open, set rodata
 * and map sizes, load, fill attribution maps, attach.  One cleanup path:
 * kh_session_close() is safe on a session at any stage.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "session.h"
#include "kvmheat.skel.h"

static int kh_session_load(struct kh_session *s, char *why, size_t len);
static bool kh_session_any_source(const struct kh_session *s);

/*
 * A failed load or probe is a runtime error whatever its errno (a verifier
 * refusal is -EACCES): keep such an errno from reading as an environment
 * or no-VM error under kh_exit_code().  The reason keeps the real one.
 */
static int kh_runtime_err(int err)
{
	return kh_exit_code(err) == KH_EXIT_ERROR ? err : -EIO;
}

#define KH_GIB_PAGES	(1ULL << (30 - KH_PAGE_SHIFT))

/*
 * Sizing (README "Maps and memory"): regions cover all tracked memory plus
 * a quarter for VMs that start later; hot gfns get 4096 LRU entries per
 * GiB and sub-page rows 1024 per GiB.  The gfn floor covers a guest of up
 * to 64 MiB completely, so small guests lose nothing to eviction; sub-page
 * rows (only written gfns need one) have a floor of 4096 written gfns.
 */
void kh_map_sizes(uint64_t pages, uint64_t max_gfns, uint64_t *gfn_entries,
		  uint64_t *region_entries, uint64_t *subpage_entries)
{
	uint64_t gib = (pages + KH_GIB_PAGES - 1) / KH_GIB_PAGES;

	if (!gib)
		gib = 1;
	*region_entries = gib * (KH_GIB_PAGES / KH_REGION_GFNS) * 5 / 4;
	if (*region_entries < 1024)
		*region_entries = 1024;
	*gfn_entries = gib * 4096;
	if (*gfn_entries < 16384)
		*gfn_entries = 16384;
	if (max_gfns)
		*gfn_entries = max_gfns;	/* the user's word, floor or not */
	*subpage_entries = gib * 1024;
	if (*subpage_entries < 4096)
		*subpage_entries = 4096;
}

/* Round up to a power of two of at least a page: what a BPF ring buffer takes. */
static uint32_t kh_ringbuf_size(uint32_t want)
{
	uint32_t sz = 4096;

	while (sz < want && sz < (1U << 30))
		sz <<= 1;
	return sz;
}

void kh_set_event_rodata(struct kvmheat_bpf *skel, const struct kh_session_opts *so)
{
	const struct kh_ev_filter *f = &so->filter;

	skel->rodata->aggregate = !so->no_aggregate;
	skel->rodata->events_enabled = so->events;
	skel->rodata->ev_sources = f->sources ? f->sources : ~0U;
	if (f->gfn_set) {
		skel->rodata->ev_gfn_lo = f->gfn_lo;
		skel->rodata->ev_gfn_hi = f->gfn_hi;
	}
	skel->rodata->ev_writes_only = f->writes_only;
	skel->rodata->ev_vcpu = f->vcpu_set ? f->vcpu : KH_VCPU_UNKNOWN;
	skel->rodata->ev_wakeup_bytes = so->wakeup_bytes;
	bpf_map__set_max_entries(skel->maps.events, so->events ?
				 kh_ringbuf_size(so->ringbuf_bytes ? so->ringbuf_bytes : 4U << 20) :
				 4096);
}

/* Fill the attribution maps from s->vms. */
static int kh_session_push_vms(struct kh_session *s)
{
	int kfd = bpf_map__fd(s->skel->maps.vm_by_kvm);
	int sfd = bpf_map__fd(s->skel->maps.hva_slots);
	uint64_t key, next, *stale = NULL;
	size_t nstale = 0, cap = 0, n = 0;
	int err = 0;

	/* Forget VMs that are gone, so a reused struct kvm address is not misread. */
	for (int r = bpf_map_get_next_key(kfd, NULL, &next); !r;
	     r = bpf_map_get_next_key(kfd, &key, &next)) {
		bool live = false;

		key = next;
		for (size_t i = 0; i < s->vms.n && !live; i++)
			live = s->vms.vms[i].kvm == key;
		if (!live) {
			if (kh_grow(&stale, &cap, nstale + 1, sizeof(*stale)))
				break;
			stale[nstale++] = key;
		}
	}
	for (size_t i = 0; i < nstale; i++)
		bpf_map_delete_elem(kfd, &stale[i]);
	free(stale);

	for (size_t i = 0; i < s->vms.n; i++) {
		const struct kh_vm *vm = &s->vms.vms[i];

		if (bpf_map_update_elem(kfd, &vm->kvm, &vm->pid, BPF_ANY))
			err = -errno;
		for (size_t j = 0; j < vm->nr_slots && n < KH_MAX_HVA_SLOTS; j++) {
			const struct kh_slot *sl = &vm->slots[j];
			struct kh_hva_slot hs = {
				.hva_start = sl->hva,
				.hva_end = sl->hva + (sl->npages << KH_PAGE_SHIFT),
				.base_gfn = sl->base_gfn,
				.kvm = vm->kvm,
				.pid = vm->pid,
			};
			uint32_t idx = n;

			if (sl->as_id != 0)
				continue;
			if (bpf_map_update_elem(sfd, &idx, &hs, BPF_ANY))
				err = -errno;
			else
				n++;
		}
	}
	/* Entries are written before the count that publishes them. */
	s->skel->bss->nr_hva_slots = n;
	s->nr_hva_slots = n;
	return err;
}

static uint64_t kh_tracked_pages(struct kh_session *s)
{
	uint64_t pages = 0;

	if (s->opts.expect_pages)
		return s->opts.expect_pages;
	for (size_t i = 0; i < s->vms.n; i++)
		if (!s->opts.pid || s->vms.vms[i].pid == s->opts.pid)
			pages += kh_vm_pages(&s->vms.vms[i]);
	return pages;
}

/*
 * Discover VMs, probe, open, size and load the BPF object, fill its VM maps.
 * 0, or -errno with the reason in @why (base.h says which errno means what).
 */
int kh_session_open(struct kh_session *s, const struct kh_session_opts *so,
		    const struct kh_opts *o, char *why, size_t len)
{
	char eb[128];
	int err;

	memset(s, 0, sizeof(*s));
	s->opts = *so;
	kh_libbpf_quiet(o->verbose);

	err = kh_disc_open(&s->disc, why, len);
	if (!err)
		err = kh_disc_run(&s->disc, &s->vms, why, len);
	if (err == -EPERM) {
		size_t n = strlen(why);

		snprintf(why + n, len - n, " (%s)", KH_MSG_PRIVS);
		return err;
	}
	if (err)
		return kh_runtime_err(err);
	/* No VM now and no way to make one: KVM itself is missing. */
	if (!s->vms.n && access("/dev/kvm", F_OK))
		return snprintf(why, len, KH_MSG_NO_KVM), -ENODEV;
	if (so->pid && !so->pid_pending && !kh_vms_find(&s->vms, so->pid))
		return snprintf(why, len, KH_MSG_NOT_VM, so->pid), -ESRCH;

	memcpy(s->probe.force, so->force, sizeof(s->probe.force));
	err = kh_probe_run(&s->probe, o, so->sources);
	if (err)
		return snprintf(why, len, "probing hooks: %s", kh_errstr(err, eb, sizeof(eb))),
		       kh_runtime_err(err);
	if (!s->probe.env.has_btf)
		return snprintf(why, len, KH_MSG_NO_BTF), -ENODEV;
	if (!kh_session_any_source(s))
		return snprintf(why, len, "no requested event source can attach on this kernel; "
				"`kvmheat probe` says why"), -ENXIO;
	return kh_session_load(s, why, len);
}

/* Open the BPF object with the probe's choices, size its maps, load, fill. */
static int kh_session_load(struct kh_session *s, char *why, size_t len)
{
	const struct kh_session_opts *so = &s->opts;
	char eb[128];
	int err;

	s->skel = kvmheat_bpf__open();
	if (!s->skel) {
		err = -errno;
		return snprintf(why, len, "opening the BPF object: %s",
				kh_errstr(err, eb, sizeof(eb))), kh_runtime_err(err);
	}
	kh_probe_apply(&s->probe, s->skel);
	kh_set_rodata(&s->probe.env, s->skel, so->follow ? 0 : so->pid);
	s->skel->rodata->targ_follow = so->follow;
	bpf_program__set_autoload(s->skel->progs.tp_btf_sched_process_fork, so->follow);
	/* a launcher's whole process tree; a full table is counted and warned about */
	if (so->follow)
		bpf_map__set_max_entries(s->skel->maps.follow_tgids, 8192);
	kh_set_event_rodata(s->skel, so);
	kh_map_sizes(kh_tracked_pages(s), so->max_gfns, &s->gfn_entries, &s->region_entries,
		     &s->subpage_entries);
	if (so->max_regions)
		s->region_entries = so->max_regions;
	if (so->max_subpages)
		s->subpage_entries = so->max_subpages;
	bpf_map__set_max_entries(s->skel->maps.gfns, s->gfn_entries);
	/* aging sweeps stop making entries at 7/8 full, so they cannot evict hot pages */
	s->skel->rodata->gfn_soft_cap = s->gfn_entries - s->gfn_entries / 8;
	bpf_map__set_max_entries(s->skel->maps.regions, s->region_entries);
	bpf_map__set_max_entries(s->skel->maps.subpages, s->subpage_entries);
	/*
	 * Each VM's array is made at its size later (kh_session_bits_map).
	 * Without bits the array of arrays is not made at all (the verifier
	 * drops the code behind idle_bits_on), so kernels before 5.10 load.
	 */
	s->bits_on = so->idle_bits && kh_session_bits_supported();
	s->skel->rodata->idle_bits_on = s->bits_on;
	bpf_map__set_autocreate(s->skel->maps.idle_bits, s->bits_on);
	err = kvmheat_bpf__load(s->skel);
	if (err)
		return snprintf(why, len, "loading BPF programs: %s (run with -v for the "
				"verifier log)", kh_errstr(err, eb, sizeof(eb))), kh_runtime_err(err);
	err = kh_session_push_vms(s);
	if (err)
		return snprintf(why, len, "filling VM maps: %s", kh_errstr(err, eb, sizeof(eb))),
		       kh_runtime_err(err);
	if (so->follow) {
		uint8_t one = 1;

		if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.follow_tgids), &so->pid, &one,
					BPF_ANY)) {
			err = -errno;
			return snprintf(why, len, "seeding the followed pids: %s",
					kh_errstr(err, eb, sizeof(eb))), kh_runtime_err(err);
		}
	}
	return 0;
}

/* Whether any requested source has a hook (after probing). */
static bool kh_session_any_source(const struct kh_session *s)
{
	for (int src = 0; src < KH_SRC_MAX; src++)
		if ((s->opts.sources & (1U << src)) && kh_source_available(&s->probe, src))
			return true;
	return false;
}

int kh_session_attach(struct kh_session *s, char *why, size_t len)
{
	char eb[128];
	int err = kvmheat_bpf__attach(s->skel);

	if (err)
		snprintf(why, len, "attaching BPF programs: %s", kh_errstr(err, eb, sizeof(eb)));
	return err;
}

/* Pick up VMs that started or exited since the last look. */
int kh_session_refresh(struct kh_session *s, char *why, size_t len)
{
	struct kh_vmset fresh;
	int err;

	err = kh_disc_run(&s->disc, &fresh, why, len);
	if (err)
		return err;
	kh_vms_free(&s->vms);
	s->vms = fresh;
	return kh_session_push_vms(s);
}

void kh_session_close(struct kh_session *s)
{
	kvmheat_bpf__destroy(s->skel);
	s->skel = NULL;
	kh_probe_free(&s->probe);
	kh_vms_free(&s->vms);
	kh_disc_close(&s->disc);
}

bool kh_session_followed(struct kh_session *s, uint32_t pid)
{
	uint8_t v;

	return s->opts.follow &&
	       !bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.follow_tgids), &pid, &v);
}

uint64_t kh_session_follow_lost(struct kh_session *s)
{
	return s->skel && s->skel->bss ? s->skel->bss->follow_full : 0;
}

static uint64_t kh_stat_sum(int fd, uint32_t idx, uint64_t *vals, int ncpu)
{
	uint64_t sum = 0;

	if (bpf_map_lookup_elem(fd, &idx, vals))
		return 0;
	for (int c = 0; c < ncpu; c++)
		sum += vals[c];
	return sum;
}

int kh_read_stats(struct kh_session *s, uint64_t out[KH_NR_STATS])
{
	int ncpu = libbpf_num_possible_cpus(), fd = bpf_map__fd(s->skel->maps.stats);
	uint64_t *vals;

	if (ncpu <= 0)
		return -EINVAL;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (uint32_t i = 0; i < KH_NR_STATS; i++)
		out[i] = kh_stat_sum(fd, i, vals, ncpu);
	free(vals);
	return 0;
}

/* One counter (src * KH_STAT_MAX + stat): cheap enough for every poll round. */
int kh_read_stat(struct kh_session *s, uint32_t idx, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus(), fd = bpf_map__fd(s->skel->maps.stats);
	uint64_t *vals;

	if (ncpu <= 0 || idx >= KH_NR_STATS)
		return -EINVAL;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	*out = kh_stat_sum(fd, idx, vals, ncpu);
	free(vals);
	return 0;
}

/* Kernel-accounted bytes of a BPF object (the "memlock:" line bpftool shows). */
uint64_t kh_fd_memlock(int fd)
{
	char path[64], line[128];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* A VM's array of @nwords words, as idle_bits's inner template (bpf/idlebits.bpf.h) has it. */
static int kh_bits_array(uint32_t nwords)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE | BPF_F_INNER_MAP);

	return bpf_map_create(BPF_MAP_TYPE_ARRAY, "kh_idle_words", sizeof(uint32_t),
			      sizeof(uint64_t), nwords, &opts);
}

bool kh_session_bits_supported(void)
{
	int fd = kh_bits_array(1);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int kh_session_bits_map(struct kh_session *s, uint32_t i, uint64_t nwords, struct kh_idle_map *m)
{
	long pg = sysconf(_SC_PAGESIZE);
	int err;

	*m = (struct kh_idle_map){ .fd = -1 };
	if (!s->bits_on)
		return -EOPNOTSUPP;
	if (!nwords || nwords > UINT32_MAX)
		return -EINVAL;
	m->fd = kh_bits_array((uint32_t)nwords);
	if (m->fd < 0)
		return m->fd = -1, -errno;
	m->len = (nwords * sizeof(uint64_t) + (uint64_t)pg - 1) / (uint64_t)pg * (uint64_t)pg;
	m->words = mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	if (m->words == MAP_FAILED) {
		err = -errno;
		goto fail;
	}
	m->nwords = nwords;
	if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.idle_bits), &i, &m->fd, BPF_ANY)) {
		err = -errno;
		munmap(m->words, m->len);
		goto fail;
	}
	m->bytes = kh_fd_memlock(m->fd);
	s->bits_bytes += m->bytes;
	return 0;
fail:
	close(m->fd);
	*m = (struct kh_idle_map){ .fd = -1 };
	return err;
}

void kh_session_bits_unmap(struct kh_session *s, uint32_t i, struct kh_idle_map *m)
{
	if (m->fd < 0 || !m->words)
		return;
	bpf_map_delete_elem(bpf_map__fd(s->skel->maps.idle_bits), &i);
	s->bits_bytes -= m->bytes;
	munmap(m->words, m->len);
	close(m->fd);
	*m = (struct kh_idle_map){ .fd = -1 };
}

uint64_t kh_session_map_bytes(struct kh_session *s)
{
	struct bpf_map *map;
	uint64_t total = 0;

	bpf_object__for_each_map(map, s->skel->obj)
		total += kh_fd_memlock(bpf_map__fd(map));
	return total + s->bits_bytes;	/* the VMs' arrays are not the object's */
}

/*
 * Run count and time of every loaded program.  The kernel counts only
 * while kernel.bpf_stats_enabled=1; @enabled says whether it was.
 */
void kh_session_cost(struct kh_session *s, uint64_t *runs, uint64_t *ns, bool *enabled)
{
	struct bpf_program *prog;
	char v[4] = "0";
	FILE *f = fopen("/proc/sys/kernel/bpf_stats_enabled", "r");

	if (f) {
		if (!fgets(v, sizeof(v), f))
			v[0] = '0';
		fclose(f);
	}
	*enabled = v[0] == '1';
	*runs = *ns = 0;
	bpf_object__for_each_program(prog, s->skel->obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		*runs += info.run_cnt;
		*ns += info.run_time_ns;
	}
}
