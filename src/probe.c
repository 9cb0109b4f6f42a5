// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Probing: the one place that decides, per hook, which attach method and
 * which kernel symbol to use.  Every candidate is tried with the real
 * program from kvmheat.bpf.c (loaded and attached alone, maps shrunk),
 * so what probing accepts is exactly what will run.  Each failure keeps
 * its reason; nothing is dropped silently.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "probe.h"
#include "kvmheat.skel.h"

/*
 * Candidates per hook, best first.  The order is fentry/fexit, kprobe,
 * tp_btf, raw_tp/tracepoint, except where a later hook carries more
 * (SPP: the tracepoint has the gpa, handle_spp does not).  Names per
 * kernel release are in docs/KERNELS.md.
 */
const struct kh_hook_def kh_hooks[] = {
	{ "age", KH_SRC_AGING, false, {
		{ KH_M_FEXIT, "kvm_age_gfn", { "fexit_kvm_age_gfn" } },
		{ KH_M_KPROBE, "kvm_age_gfn", { "kprobe_kvm_age_gfn", "kretprobe_kvm_age_gfn" } },
		{ KH_M_FEXIT, "kvm_age_hva", { "fexit_kvm_age_hva" } },
		{ KH_M_TP_BTF, "kvm_age_hva", { "tp_btf_kvm_age_hva" } },
		{ KH_M_RAW_TP, "kvm_age_hva", { "raw_tp_kvm_age_hva" } },
	} },
	{ "test_age", KH_SRC_AGING, false, {
		{ KH_M_FEXIT, "kvm_test_age_gfn", { "fexit_kvm_test_age_gfn" } },
		{ KH_M_KPROBE, "kvm_test_age_gfn",
		  { "kprobe_kvm_test_age_gfn", "kretprobe_kvm_test_age_gfn" } },
		{ KH_M_TP_BTF, "kvm_test_age_hva", { "tp_btf_kvm_test_age_hva" } },
		{ KH_M_RAW_TP, "kvm_test_age_hva", { "raw_tp_kvm_test_age_hva" } },
	} },
	{ "tdp_young", KH_SRC_AGING, true, {
		{ KH_M_TP_BTF, "kvm_tdp_mmu_spte_changed", { "tp_btf_kvm_tdp_mmu_spte_changed" } },
		{ KH_M_RAW_TP, "kvm_tdp_mmu_spte_changed", { "raw_tp_kvm_tdp_mmu_spte_changed" } },
	} },
	{ "track_write", KH_SRC_TRACK, false, {
		{ KH_M_FENTRY, "kvm_mmu_track_write", { "fentry_kvm_mmu_track_write" } },
		{ KH_M_FENTRY, "kvm_page_track_write", { "fentry_kvm_page_track_write" } },
		{ KH_M_FENTRY, "kvm_mmu_pte_write", { "fentry_kvm_mmu_pte_write" } },
		{ KH_M_FENTRY, "__kvm_page_track_write", { "fentry___kvm_page_track_write" } },
		{ KH_M_KPROBE, "kvm_mmu_track_write", { "kprobe_kvm_mmu_track_write" } },
		{ KH_M_KPROBE, "kvm_page_track_write", { "kprobe_kvm_page_track_write" } },
		{ KH_M_KPROBE, "kvm_mmu_pte_write", { "kprobe_kvm_mmu_pte_write" } },
		{ KH_M_KPROBE, "__kvm_page_track_write", { "kprobe___kvm_page_track_write" } },
	} },
	{ "spp", KH_SRC_SPP, false, {
		{ KH_M_TP_BTF, "kvm_spp_induced_exit", { "tp_btf_kvm_spp_induced_exit" } },
		{ KH_M_RAW_TP, "kvm_spp_induced_exit", { "raw_tp_kvm_spp_induced_exit" } },
		{ KH_M_FENTRY, "handle_spp", { "fentry_handle_spp" } },
		{ KH_M_KPROBE, "handle_spp", { "kprobe_handle_spp" } },
		{ KH_M_TRACEPOINT, "kvm/kvm_exit", { "tracepoint_kvm_exit" } },
	} },
	{ "walk", KH_SRC_WALK, false, {
		{ KH_M_TP_BTF, "kvm_mmu_pagetable_walk",
		  { "tp_btf_kvm_mmu_pagetable_walk", "tp_btf_kvm_mmu_paging_element" } },
		{ KH_M_RAW_TP, "kvm_mmu_pagetable_walk",
		  { "raw_tp_kvm_mmu_pagetable_walk", "raw_tp_kvm_mmu_paging_element" } },
	} },
	{ "fault", KH_SRC_WALK, false, {
		{ KH_M_TP_BTF, "kvm_page_fault", { "tp_btf_kvm_page_fault" } },
		{ KH_M_RAW_TP, "kvm_page_fault", { "raw_tp_kvm_page_fault" } },
	} },
};
const size_t kh_nr_hooks = sizeof(kh_hooks) / sizeof(kh_hooks[0]);

/* ---- kernel facts ---- */

struct kh_btfs {
	struct btf *base;
	struct btf *mods[8];
	int nr_mods;
};

static void kh_btfs_load(struct kh_btfs *b)
{
	struct dirent *de;
	DIR *d;

	memset(b, 0, sizeof(*b));
	b->base = btf__load_vmlinux_btf();
	if (!b->base || libbpf_get_error(b->base)) {
		b->base = NULL;
		return;
	}
	/* KVM as modules: its types live in split BTF on top of vmlinux. */
	d = opendir("/sys/kernel/btf");
	if (!d)
		return;
	while ((de = readdir(d)) && b->nr_mods < 8) {
		char path[300];
		struct btf *m;

		if (strncmp(de->d_name, "kvm", 3))
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/btf/%s", de->d_name);
		m = btf__parse_split(path, b->base);
		if (m && !libbpf_get_error(m))
			b->mods[b->nr_mods++] = m;
	}
	closedir(d);
}

static void kh_btfs_free(struct kh_btfs *b)
{
	for (int i = 0; i < b->nr_mods; i++)
		btf__free(b->mods[i]);
	btf__free(b->base);
}

static const struct btf_type *kh_btf_find(const struct kh_btfs *b, const char *name,
					  __u32 kind, const struct btf **owner)
{
	const struct btf *all[9];
	int n = 0;

	if (b->base)
		all[n++] = b->base;
	for (int i = 0; i < b->nr_mods; i++)
		all[n++] = b->mods[i];
	for (int i = 0; i < n; i++) {
		__s32 id = btf__find_by_name_kind(all[i], name, kind);

		if (id > 0) {
			if (owner)
				*owner = all[i];
			return btf__type_by_id(all[i], id);
		}
	}
	return NULL;
}

static bool kh_btf_has_tp(const struct kh_btfs *b, const char *tp)
{
	char name[128];

	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	return kh_btf_find(b, name, BTF_KIND_TYPEDEF, NULL);
}

/* Member @name anywhere in @t, looking through anonymous unions/structs. */
static bool kh_btf_has_member(const struct btf *btf, const struct btf_type *t, const char *name,
			      int depth)
{
	const struct btf_member *m;

	if (!t || depth > 4 || !(btf_is_struct(t) || btf_is_union(t)))
		return false;
	m = btf_members(t);
	for (int i = 0; i < btf_vlen(t); i++, m++) {
		const char *mn = btf__name_by_offset(btf, m->name_off);

		if (mn && !strcmp(mn, name))
			return true;
		if ((!mn || !*mn) &&
		    kh_btf_has_member(btf, btf__type_by_id(btf, m->type), name, depth + 1))
			return true;
	}
	return false;
}

/* Arguments of a tracepoint, from its btf_trace_<tp> typedef (minus __data). */
static int kh_tp_nargs(const struct kh_btfs *b, const char *tp)
{
	const struct btf *owner = NULL;
	const struct btf_type *t;
	char name[128];

	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	t = kh_btf_find(b, name, BTF_KIND_TYPEDEF, &owner);
	if (!t)
		return -1;
	t = btf__type_by_id(owner, t->type);		/* pointer */
	if (!t || !btf_is_ptr(t))
		return -1;
	t = btf__type_by_id(owner, t->type);		/* func proto */
	if (!t || !btf_is_func_proto(t))
		return -1;
	return btf_vlen(t) - 1;
}

static bool kh_param_is(const char *module, const char *param, char want)
{
	char path[256], v[8] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/%s/parameters/%s", module, param);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(v, sizeof(v), f))
		v[0] = 0;
	fclose(f);
	return v[0] == want || (want == 'Y' && v[0] == '1');
}

static bool kh_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void kh_env_fill(struct kh_env *env, const struct kh_btfs *b)
{
	static const char *const vendors[] = { "kvm_intel", "kvm_amd", "kvm_pvm" };
	struct utsname u;
	const struct btf *owner = NULL;
	const struct btf_type *run;
	int n;

	memset(env, 0, sizeof(*env));
	if (!uname(&u))
		snprintf(env->release, sizeof(env->release), "%s", u.release);
	env->has_btf = b->base != NULL;
	env->has_kprobes = kh_exists("/sys/bus/event_source/devices/kprobe") ||
			   kh_exists("/sys/kernel/tracing/kprobe_events") ||
			   kh_exists("/sys/kernel/debug/tracing/kprobe_events");
	snprintf(env->vendor, sizeof(env->vendor), "none");
	for (size_t i = 0; i < sizeof(vendors) / sizeof(vendors[0]); i++) {
		char path[64];

		snprintf(path, sizeof(path), "/sys/module/%s", vendors[i]);
		if (kh_exists(path)) {
			snprintf(env->vendor, sizeof(env->vendor), "%s", vendors[i]);
			break;
		}
	}
	/* Only TDP puts gpas in kvm_page_fault; shadow paging puts gvas. */
	env->tdp = kh_param_is("kvm_intel", "ept", 'Y') || kh_param_is("kvm_amd", "npt", 'Y');
	/*
	 * Accessed bit in the sptes kvm_tdp_mmu_spte_changed shows: EPT with
	 * A/D bits uses bit 8 (VMX_EPT_ACCESS_BIT); NPT and shadow sptes use
	 * the x86 PTE accessed bit 5.
	 */
	env->accessed_mask = (kh_param_is("kvm_intel", "ept", 'Y') &&
			      kh_param_is("kvm_intel", "eptad", 'Y')) ? 1ULL << 8 : 1ULL << 5;
	/* kvm_page_fault gained its vCPU argument in 6.x (docs/KERNELS.md). */
	n = kh_tp_nargs(b, "kvm_page_fault");
	env->page_fault_nargs = n == 2 ? 2 : 3;
	/*
	 * "KVM: x86/mmu: Walk TDP MMU roots without mmu_lock when aging" and its
	 * series (6.15) added kvm_gfn_range.lockless: aging then no longer
	 * takes mmu_lock, so driving it (kvmheat idle) contends with nothing.
	 */
	{
		const struct btf *rowner = NULL;
		const struct btf_type *gr = kh_btf_find(b, "kvm_gfn_range", BTF_KIND_STRUCT,
							&rowner);

		env->lockless_aging = gr && kh_btf_has_member(rowner, gr, "lockless", 0);
	}
	/* SPP: any trace of the (never merged) series in this kernel's BTF. */
	run = kh_btf_find(b, "kvm_run", BTF_KIND_STRUCT, &owner);
	env->spp = kh_btf_find(b, "handle_spp", BTF_KIND_FUNC, NULL) ||
		   kh_btf_has_tp(b, "kvm_spp_induced_exit") ||
		   (run && kh_btf_has_member(owner, run, "spp", 0));
}

bool kh_memslots_tree(void)
{
	const struct btf *owner = NULL;
	const struct btf_type *t;
	struct kh_btfs b;
	bool tree;

	kh_btfs_load(&b);
	t = kh_btf_find(&b, "kvm_memslots", BTF_KIND_STRUCT, &owner);
	/* No BTF to ask: assume a current kernel; loading will say if not. */
	tree = !t || kh_btf_has_member(owner, t, "gfn_tree", 0);
	kh_btfs_free(&b);
	return tree;
}

void kh_set_rodata(const struct kh_env *env, struct kvmheat_bpf *skel, uint32_t targ_pid)
{
	skel->rodata->targ_pid = targ_pid;
	skel->rodata->tdp_accessed_mask = env->accessed_mask;
	skel->rodata->fault_addr_is_gpa = env->tdp;
	skel->rodata->page_fault_nargs = env->page_fault_nargs;
}

/* ---- candidates ---- */

/* Cheap existence checks first, so reasons name what is missing. */
static bool kh_cand_exists(const struct kh_env *env, const struct kh_btfs *b,
			   const struct kh_cand *c, char *why, size_t len)
{
	char path[256];

	switch (c->method) {
	case KH_M_FENTRY:
	case KH_M_FEXIT:
		if (!env->has_btf) {
			snprintf(why, len, "no kernel BTF");
			return false;
		}
		if (!kh_btf_find(b, c->target, BTF_KIND_FUNC, NULL)) {
			snprintf(why, len, "no function %s in kernel BTF", c->target);
			return false;
		}
		return true;
	case KH_M_KPROBE:
		if (!env->has_kprobes) {
			snprintf(why, len, "kernel has no kprobe support (no kprobe PMU or "
				 "kprobe_events)");
			return false;
		}
		return true;	/* kallsyms is checked by the attach itself */
	case KH_M_TP_BTF:
	case KH_M_RAW_TP:
		if (!kh_btf_has_tp(b, c->target)) {
			snprintf(why, len, "no tracepoint %s in this kernel", c->target);
			return false;
		}
		return true;
	case KH_M_TRACEPOINT:
		snprintf(path, sizeof(path), "/sys/kernel/tracing/events/%s", c->target);
		if (kh_exists(path))
			return true;
		snprintf(path, sizeof(path), "/sys/kernel/debug/tracing/events/%s", c->target);
		if (kh_exists(path))
			return true;
		snprintf(why, len, "tracepoint %s not found (is tracefs mounted?)", c->target);
		return false;
	default:
		snprintf(why, len, "unknown method");
		return false;
	}
}

/* Load and attach the candidate's real programs, alone, then tear down. */
static int kh_cand_try(const struct kh_env *env, const struct kh_cand *c, char *why, size_t len)
{
	struct bpf_link *links[3] = {};
	struct kvmheat_bpf *skel;
	struct bpf_program *prog;
	struct bpf_map *map;
	char eb[128];
	int err = 0, i;

	skel = kvmheat_bpf__open();
	if (!skel) {
		err = -errno;
		snprintf(why, len, "open BPF object: %s", kh_errstr(err, eb, sizeof(eb)));
		return err;
	}
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, false);
	for (i = 0; i < 3 && c->progs[i]; i++) {
		prog = bpf_object__find_program_by_name(skel->obj, c->progs[i]);
		if (!prog) {
			err = -ENOENT;
			snprintf(why, len, "internal: no program %s", c->progs[i]);
			goto out;
		}
		bpf_program__set_autoload(prog, true);
	}
	/* Probing needs the verifier's verdict, not memory. */
	bpf_object__for_each_map(map, skel->obj) {
		if (!bpf_map__is_internal(map))
			bpf_map__set_max_entries(map, 1);
	}
	kh_set_rodata(env, skel, 0);
	err = kvmheat_bpf__load(skel);
	if (err) {
		snprintf(why, len, "load failed: %s", kh_errstr(err, eb, sizeof(eb)));
		goto out;
	}
	for (i = 0; i < 3 && c->progs[i]; i++) {
		prog = bpf_object__find_program_by_name(skel->obj, c->progs[i]);
		links[i] = bpf_program__attach(prog);
		if (!links[i]) {
			err = -errno;
			snprintf(why, len, "attach %s failed: %s", bpf_program__section_name(prog),
				 kh_errstr(err, eb, sizeof(eb)));
			goto out;
		}
	}
out:
	for (i = 0; i < 3; i++)
		bpf_link__destroy(links[i]);
	kvmheat_bpf__destroy(skel);
	return err;
}

static bool kh_method_gives_result(enum kh_method m)
{
	return m == KH_M_FEXIT || m == KH_M_KPROBE;
}

int kh_probe_run(struct kh_probe *p, const struct kh_opts *o, uint32_t wanted)
{
	struct kh_btfs b;
	int age = -1;

	p->hooks = calloc(kh_nr_hooks, sizeof(*p->hooks));
	if (!p->hooks)
		return -ENOMEM;
	kh_btfs_load(&b);
	kh_env_fill(&p->env, &b);

	for (size_t h = 0; h < kh_nr_hooks; h++) {
		const struct kh_hook_def *d = &kh_hooks[h];
		struct kh_hook_state *st = &p->hooks[h];
		enum kh_method force = p->force[d->src];

		st->chosen = -1;
		if (!(wanted & (1U << d->src))) {
			st->skipped = true;
			snprintf(st->skip_why, sizeof(st->skip_why), "source not requested");
			continue;
		}
		if (d->young_fallback && age >= 0 &&
		    kh_method_gives_result(kh_hooks[0].cands[age].method)) {
			st->skipped = true;
			snprintf(st->skip_why, sizeof(st->skip_why),
				 "not needed: age hook reports results");
			continue;
		}
		if (d->src == KH_SRC_SPP && !p->env.spp) {
			st->skipped = true;
			snprintf(st->skip_why, sizeof(st->skip_why),
				 "SPP not present on this kernel (no handle_spp, kvm_spp_* "
				 "tracepoints or kvm_run.spp; never merged upstream)");
			continue;
		}
		for (int c = 0; c < KH_MAX_CANDS && d->cands[c].target; c++) {
			const struct kh_cand *cand = &d->cands[c];
			struct kh_cand_result *r = &st->res[c];
			enum kh_method m = cand->method == KH_M_FEXIT ? KH_M_FENTRY : cand->method;

			/* KH_M_AUTO (the zero value) and out-of-range values force nothing */
			if (force >= KH_M_FIRST && force < KH_M_MAX && m != force) {
				snprintf(r->why, sizeof(r->why), "not the forced method %s",
					 kh_method_name(force));
				continue;
			}
			r->tried = true;
			if (!kh_cand_exists(&p->env, &b, cand, r->why, sizeof(r->why))) {
				r->err = -ENOENT;
				continue;
			}
			r->err = kh_cand_try(&p->env, cand, r->why, sizeof(r->why));
			if (!r->err) {
				r->ok = true;
				st->chosen = c;
				break;
			}
		}
		if (h == 0)
			age = st->chosen;
		if (o && o->verbose)
			fprintf(stderr, "kvmheat: probe %s: %s\n", d->name,
				st->chosen >= 0 ? kh_method_name(d->cands[st->chosen].method)
						: "unavailable");
	}
	kh_btfs_free(&b);
	return 0;
}

void kh_probe_free(struct kh_probe *p)
{
	free(p->hooks);
	p->hooks = NULL;
}

bool kh_source_available(const struct kh_probe *p, enum kh_source src)
{
	for (size_t h = 0; h < kh_nr_hooks; h++)
		if (kh_hooks[h].src == src && p->hooks[h].chosen >= 0)
			return true;
	return false;
}

void kh_source_desc(const struct kh_probe *p, enum kh_source src, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	for (size_t h = 0; h < kh_nr_hooks && off < len; h++) {
		const struct kh_cand *c;

		if (kh_hooks[h].src != src || p->hooks[h].chosen < 0)
			continue;
		c = &kh_hooks[h].cands[p->hooks[h].chosen];
		off += snprintf(buf + off, len - off, "%s%s:%s", off ? "," : "",
				kh_method_name(c->method), c->target);
	}
	if (!off)
		snprintf(buf, len, "unavailable");
}

void kh_probe_apply(const struct kh_probe *p, struct kvmheat_bpf *skel)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, false);
	for (size_t h = 0; h < kh_nr_hooks; h++) {
		const struct kh_cand *c;

		if (p->hooks[h].chosen < 0)
			continue;
		c = &kh_hooks[h].cands[p->hooks[h].chosen];
		for (int i = 0; i < 3 && c->progs[i]; i++) {
			prog = bpf_object__find_program_by_name(skel->obj, c->progs[i]);
			if (prog)
				bpf_program__set_autoload(prog, true);
		}
	}
}
