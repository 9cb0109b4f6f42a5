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
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "kh.h"
#include "kvmheat.skel.h"

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

static const char *const kh_stat_names[KH_STAT_MAX] = {
	[KH_STAT_EVENTS] = "events", [KH_STAT_COUNTED] = "counted",
	[KH_STAT_FILTERED] = "filtered", [KH_STAT_NO_VM] = "no_vm",
	[KH_STAT_MAP_FULL] = "map_full", [KH_STAT_TRUNCATED] = "truncated",
	[KH_STAT_WALK_LOST] = "walk_lost", [KH_STAT_NO_GFN] = "no_gfn",
	[KH_STAT_EMITTED] = "emitted", [KH_STAT_LOST] = "lost",
	[KH_STAT_EV_FILTERED] = "event_filtered",
};

const char *kh_stat_name(int stat)
{
	return stat >= 0 && stat < KH_STAT_MAX && kh_stat_names[stat] ? kh_stat_names[stat] : "?";
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

int kh_session_push_vms(struct kh_session *s)
{
	int kfd = bpf_map__fd(s->skel->maps.vm_by_kvm);
	int sfd = bpf_map__fd(s->skel->maps.hva_slots);
	uint64_t key, next, *stale = NULL;
	size_t nstale = 0, n = 0;
	int err = 0;

	/* Forget VMs that are gone, so a reused struct kvm address is not misread. */
	for (int r = bpf_map_get_next_key(kfd, NULL, &next); !r;
	     r = bpf_map_get_next_key(kfd, &key, &next)) {
		bool live = false;

		key = next;
		for (size_t i = 0; i < s->vms.n && !live; i++)
			live = s->vms.vms[i].kvm == key;
		if (!live) {
			uint64_t *ns = realloc(stale, (nstale + 1) * sizeof(*ns));

			if (!ns)
				break;
			stale = ns;
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

int kh_session_open(struct kh_session *s, const struct kh_session_opts *so,
		    const struct kh_opts *o)
{
	char why[256], eb[128];
	bool any = false;
	int err;

	memset(s, 0, sizeof(*s));
	s->opts = *so;
	kh_libbpf_quiet(o->verbose);

	err = kh_disc_open(&s->disc, why, sizeof(why));
	if (!err)
		err = kh_disc_run(&s->disc, &s->vms, why, sizeof(why));
	if (err)
		return kh_err(o, err == -EPERM ? KH_EXIT_ENV : KH_EXIT_ERROR, "%s%s", why,
			      err == -EPERM ? " (needs root, or CAP_BPF and CAP_PERFMON)" : "");
	/* No VM now and no way to make one: KVM itself is missing. */
	if (!s->vms.n && access("/dev/kvm", F_OK))
		return kh_err(o, KH_EXIT_ENV, "no /dev/kvm: KVM is not loaded on this host, so "
			      "there are no VMs to watch");
	if (so->pid && !so->pid_pending && !kh_vms_find(&s->vms, so->pid))
		return kh_err(o, KH_EXIT_NO_VM, "pid %u is not a KVM VM (it holds no kvm-vm file)",
			      so->pid);

	memcpy(s->probe.force, so->force, sizeof(s->probe.force));
	err = kh_probe_run(&s->probe, o, so->sources);
	if (err)
		return kh_err(o, KH_EXIT_ERROR, "probing hooks: %s", kh_errstr(err, eb, sizeof(eb)));
	if (!s->probe.env.has_btf)
		return kh_err(o, KH_EXIT_ENV, "kernel has no BTF (/sys/kernel/btf/vmlinux): "
			      "kvmheat needs CONFIG_DEBUG_INFO_BTF=y");
	for (int src = 0; src < KH_SRC_MAX; src++) {
		if (!(so->sources & (1U << src)))
			continue;
		if (kh_source_available(&s->probe, src))
			any = true;
		else
			kh_warn(o, "source %s is unavailable on this kernel (see kvmheat probe)",
				kh_source_name(src));
	}
	if (!any)
		return kh_err(o, KH_EXIT_NO_SOURCE, "no requested event source can attach on "
			      "this kernel; `kvmheat probe` says why");

	s->skel = kvmheat_bpf__open();
	if (!s->skel)
		return kh_err(o, KH_EXIT_ERROR, "opening the BPF object: %s",
			      kh_errstr(-errno, eb, sizeof(eb)));
	kh_probe_apply(&s->probe, s->skel);
	kh_set_rodata(&s->probe.env, s->skel, so->pid);
	kh_set_event_rodata(s->skel, so);
	kh_map_sizes(kh_tracked_pages(s), so->max_gfns, &s->gfn_entries, &s->region_entries,
		     &s->subpage_entries);
	bpf_map__set_max_entries(s->skel->maps.gfns, s->gfn_entries);
	bpf_map__set_max_entries(s->skel->maps.regions, s->region_entries);
	bpf_map__set_max_entries(s->skel->maps.subpages, s->subpage_entries);
	if (so->idle_words) {	/* kvmheat idle: bits per page of @pid (idle.c) */
		bpf_map__set_max_entries(s->skel->maps.idle_bits, so->idle_words);
		s->skel->rodata->idle_pid = so->pid;
	}
	err = kvmheat_bpf__load(s->skel);
	if (err)
		return kh_err(o, KH_EXIT_ERROR, "loading BPF programs: %s (run with -v for the "
			      "verifier log)", kh_errstr(err, eb, sizeof(eb)));
	err = kh_session_push_vms(s);
	if (err)
		return kh_err(o, KH_EXIT_ERROR, "filling VM maps: %s",
			      kh_errstr(err, eb, sizeof(eb)));
	return KH_EXIT_OK;
}

int kh_session_attach(struct kh_session *s, const struct kh_opts *o)
{
	char eb[128];
	int err = kvmheat_bpf__attach(s->skel);

	if (err)
		return kh_err(o, KH_EXIT_ERROR, "attaching BPF programs: %s",
			      kh_errstr(err, eb, sizeof(eb)));
	return KH_EXIT_OK;
}

/* Pick up VMs that started or exited since the last look. */
int kh_session_refresh(struct kh_session *s, const struct kh_opts *o)
{
	struct kh_vmset fresh;
	char why[256];
	int err;

	err = kh_disc_run(&s->disc, &fresh, why, sizeof(why));
	if (err) {
		kh_warn(o, "VM rediscovery failed: %s", why);
		return err;
	}
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

uint64_t kh_session_map_bytes(struct kh_session *s)
{
	struct bpf_map *map;
	uint64_t total = 0;

	bpf_object__for_each_map(map, s->skel->obj)
		total += kh_fd_memlock(bpf_map__fd(map));
	return total;
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
