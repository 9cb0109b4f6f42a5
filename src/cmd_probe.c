// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `kvmheat probe`: the attach method chosen per event source, and every refusal. */
#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <jansson.h>
#include "cli.h"

static json_t *kh_probe_json(const struct kh_probe *p)
{
	json_t *root, *srcs;

	root = json_pack("{s:s, s:b, s:b, s:s, s:s, s:b, s:i, s:b}", "kernel", p->env.release,
			 "btf", p->env.has_btf, "kprobes", p->env.has_kprobes, "vendor",
			 p->env.vendor, "paging", p->env.tdp ? "tdp" : "shadow", "spp", p->env.spp,
			 "page_fault_nargs", p->env.page_fault_nargs, "lockless_aging",
			 p->env.lockless_aging);
	srcs = json_array();
	for (int s = 0; s < KH_SRC_MAX; s++) {
		json_t *hooks = json_array();

		for (size_t h = 0; h < kh_nr_hooks; h++) {
			const struct kh_hook_def *d = &kh_hooks[h];
			const struct kh_hook_state *st = &p->hooks[h];
			json_t *tried, *hj;

			if (d->src != (enum kh_source)s)
				continue;
			tried = json_array();
			for (int c = 0; c < KH_MAX_CANDS && d->cands[c].target; c++) {
				const struct kh_cand_result *r = &st->res[c];

				json_array_append_new(tried, json_pack(
					"{s:s, s:s, s:b, s:b, s:s}",
					"method", kh_method_name(d->cands[c].method),
					"target", d->cands[c].target, "tried", r->tried,
					"ok", r->ok, "reason", r->ok ? "" : r->why));
			}
			hj = json_pack("{s:s, s:o}", "hook", d->name, "candidates", tried);
			if (st->chosen >= 0)
				json_object_set_new(hj, "chosen", json_pack("{s:s, s:s}",
					"method", kh_method_name(d->cands[st->chosen].method),
					"target", d->cands[st->chosen].target));
			else
				json_object_set_new(hj, "chosen", json_null());
			if (st->skipped)
				json_object_set_new(hj, "skipped", json_string(st->skip_why));
			json_array_append_new(hooks, hj);
		}
		json_array_append_new(srcs, json_pack("{s:s, s:b, s:o}", "source",
			kh_source_name(s), "available", kh_source_available(p, s), "hooks", hooks));
	}
	json_object_set_new(root, "sources", srcs);
	return root;
}

static void kh_probe_print(const struct kh_probe *p)
{
	printf("kernel %s: BTF %s, kprobes %s, KVM vendor %s, %s paging, SPP %s, aging %s\n\n",
	       p->env.release, p->env.has_btf ? "yes" : "no", p->env.has_kprobes ? "yes" : "no",
	       p->env.vendor, p->env.tdp ? "two-dimensional" : "shadow",
	       p->env.spp ? "present" : "absent",
	       p->env.lockless_aging ? "lockless (kvm_gfn_range.lockless)" : "under mmu_lock");
	printf("%-7s %-12s %-11s %s\n", "SOURCE", "HOOK", "METHOD", "TARGET / WHY NOT");
	for (size_t h = 0; h < kh_nr_hooks; h++) {
		const struct kh_hook_def *d = &kh_hooks[h];
		const struct kh_hook_state *st = &p->hooks[h];

		if (st->chosen >= 0)
			printf("%-7s %-12s %-11s %s\n", kh_source_name(d->src), d->name,
			       kh_method_name(d->cands[st->chosen].method),
			       d->cands[st->chosen].target);
		else
			printf("%-7s %-12s %-11s %s\n", kh_source_name(d->src), d->name,
			       st->skipped ? "skipped" : "unavailable",
			       st->skipped ? st->skip_why : "every candidate failed:");
		for (int c = 0; c < KH_MAX_CANDS && d->cands[c].target; c++) {
			const struct kh_cand_result *r = &st->res[c];

			if (c == st->chosen || !r->tried)
				continue;
			printf("%-20s   - %s %s: %s\n", "", kh_method_name(d->cands[c].method),
			       d->cands[c].target, r->why);
		}
	}
}

static const char kh_probe_help[] =
	"Usage: kvmheat probe [-j] [-v]\n"
	"Show, per event source, the attach method chosen on this kernel\n"
	"and why every better one was refused.  Exit 0 if any source works.\n"
	"  -j, --json           JSON output\n"
	"\n"
	"Examples:\n"
	"  kvmheat probe\n"
	"  kvmheat probe -j -v\n";

/* No options of its own: -j, -v and -h only. */
static int kh_probe_parse(int argc, char **argv, struct kh_opts *o)
{
	static const struct option longopts[] = { KH_LONGOPTS_END };
	struct kh_cmdline cl = {
		.cmd = "probe", .o = o, .shortopts = "jvh", .longopts = longopts,
		.help = kh_probe_help,
	};

	return kh_getopt(&cl, argc, argv) == KH_OPT_STOP ? cl.rc : -1;
}

static int kh_probe_main(struct kh_opts *o)
{
	struct kh_agedrv_probe ap;
	struct kh_probe p = {};
	bool any = false;
	int err;

	kh_libbpf_quiet(o->verbose);
	err = kh_probe_run(&p, o, KH_ALL_SOURCES);
	if (err)
		return kh_err(o, KH_EXIT_ERROR, "probe: %s", strerror(-err));
	if (!p.env.has_btf) {
		kh_probe_free(&p);
		return kh_err(o, kh_exit_code(-ENODEV), KH_MSG_NO_BTF);
	}
	for (int s = 0; s < KH_SRC_MAX; s++)
		any |= kh_source_available(&p, s);
	/* Aging drivers (agedrv.c): none usable only means passive aging. */
	kh_agedrv_probe(&ap, NULL, 0, -1);
	if (o->json) {
		json_t *j = kh_probe_json(&p);

		json_object_set_new(j, "age_drivers", kh_agedrv_json(&ap));
		kh_json_print(j, JSON_INDENT(2));
	} else {
		kh_probe_print(&p);
		kh_agedrv_print(&ap, stdout);
	}
	kh_probe_free(&p);
	return any ? KH_EXIT_OK : KH_EXIT_NO_SOURCE;
}

int kh_cmd_probe(int argc, char **argv, struct kh_opts *o)
{
	int rc = kh_probe_parse(argc, argv, o);

	return rc >= 0 ? rc : kh_probe_main(o);
}
