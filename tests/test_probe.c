// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Probing against the running kernel.  Hooks this kernel refuses (fentry,
 * kprobe on the dev machines) are skipped with the kernel's reason, never
 * passed; tests/vmtest runs the same probes on kernels that have them.
 */
#include <errno.h>
#include <bpf/libbpf.h>
#include "khtest.h"
#include "kh.h"

static const struct kh_hook_state *hook(const struct kh_probe *p, const char *name, size_t *idx)
{
	for (size_t h = 0; h < kh_nr_hooks; h++) {
		if (!strcmp(kh_hooks[h].name, name)) {
			if (idx)
				*idx = h;
			return &p->hooks[h];
		}
	}
	fail_msg("no hook %s", name);
	return NULL;
}

static void probe(struct kh_probe *p, enum kh_source forced_src, enum kh_method forced)
{
	struct kh_opts o = {};

	if (!kh_is_root())
		KH_SKIP("probing loads BPF programs: needs root");
	memset(p, 0, sizeof(*p));
	for (int s = 0; s < KH_SRC_MAX; s++)
		p->force[s] = KH_M_MAX;
	if (forced != KH_M_MAX)
		p->force[forced_src] = forced;
	assert_int_equal(kh_probe_run(p, &o, (1U << KH_SRC_MAX) - 1), 0);
}

static const char *chosen_method(const struct kh_probe *p, const char *name)
{
	size_t h;
	const struct kh_hook_state *st = hook(p, name, &h);

	return st->chosen < 0 ? NULL : kh_method_name(kh_hooks[h].cands[st->chosen].method);
}

static void test_walk_source_attaches(void **state)
{
	struct kh_probe p;

	probe(&p, 0, KH_M_MAX);
	/* the kvmmmu walk tracepoints exist on every x86 KVM since 2.6 */
	assert_non_null(chosen_method(&p, "walk"));
	assert_true(kh_source_available(&p, KH_SRC_WALK));
	kh_probe_free(&p);
}

static void test_fexit_aging(void **state)
{
	struct kh_probe p;
	size_t h;
	const struct kh_hook_state *st;

	probe(&p, 0, KH_M_MAX);
	st = hook(&p, "age", &h);
	if (!st->res[0].ok) {
		char why[200];

		snprintf(why, sizeof(why), "%s", st->res[0].why);
		kh_probe_free(&p);
		KH_SKIP("fexit on kvm_age_gfn not possible on this kernel: %s", why);
	}
	assert_string_equal(chosen_method(&p, "age"), "fexit");
	/* with results from fexit, the tdp_young fallback is not attached */
	assert_true(hook(&p, "tdp_young", NULL)->skipped);
	kh_probe_free(&p);
}

static void test_kprobe_aging(void **state)
{
	struct kh_probe p;
	const struct kh_hook_state *st;

	probe(&p, KH_SRC_AGING, KH_M_KPROBE);
	if (!p.env.has_kprobes) {
		kh_probe_free(&p);
		KH_SKIP("kernel has no kprobes (CONFIG_KPROBES off: no kprobe PMU)");
	}
	st = hook(&p, "age", NULL);
	if (st->chosen < 0) {
		char why[200];

		snprintf(why, sizeof(why), "%s", st->res[1].why);
		kh_probe_free(&p);
		KH_SKIP("kprobe on kvm_age_gfn refused: %s", why);
	}
	assert_string_equal(chosen_method(&p, "age"), "kprobe");
	kh_probe_free(&p);
}

static void test_forced_method_is_respected(void **state)
{
	struct kh_probe p;
	size_t h;
	const struct kh_hook_state *st;

	probe(&p, KH_SRC_WALK, KH_M_RAW_TP);
	st = hook(&p, "walk", &h);
	assert_string_equal(chosen_method(&p, "walk"), "raw_tp");
	/* the better tp_btf candidate was not tried, and says why */
	assert_int_equal(kh_hooks[h].cands[0].method, KH_M_TP_BTF);
	assert_false(st->res[0].tried);
	assert_non_null(strstr(st->res[0].why, "forced"));
	kh_probe_free(&p);
}

static void test_unavailable_hooks_say_why(void **state)
{
	struct kh_probe p;

	probe(&p, 0, KH_M_MAX);
	for (size_t h = 0; h < kh_nr_hooks; h++) {
		const struct kh_hook_state *st = &p.hooks[h];

		if (st->skipped) {
			assert_true(strlen(st->skip_why) > 0);
			continue;
		}
		if (st->chosen >= 0)
			continue;
		for (int c = 0; c < KH_MAX_CANDS && kh_hooks[h].cands[c].target; c++) {
			assert_true(st->res[c].tried);
			assert_false(st->res[c].ok);
			assert_true(strlen(st->res[c].why) > 0);
		}
	}
	kh_probe_free(&p);
}

static void test_spp_reported_consistently(void **state)
{
	struct kh_probe p;
	const struct kh_hook_state *st;

	probe(&p, 0, KH_M_MAX);
	st = hook(&p, "spp", NULL);
	if (p.env.spp) {
		/* an SPP kernel: some SPP hook must attach */
		assert_true(st->chosen >= 0);
	} else {
		assert_true(st->skipped);
		assert_non_null(strstr(st->skip_why, "SPP not present"));
		assert_false(kh_source_available(&p, KH_SRC_SPP));
	}
	kh_probe_free(&p);
}

/*
 * Lockless aging (issue 10): probe reads kvm_gfn_range.lockless from BTF;
 * the kernel's own config says independently whether it was built with it.
 */
static void test_lockless_aging_matches_config(void **state)
{
	struct kh_probe p;
	char line[256];
	int cfg = -1;	/* -1: the config does not say */
	FILE *f = popen("zcat /proc/config.gz 2>/dev/null", "r");

	if (f) {
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "CONFIG_KVM_MMU_LOCKLESS_AGING=y", 31))
				cfg = 1;
			else if (strstr(line, "CONFIG_KVM_MMU_LOCKLESS_AGING is not set"))
				cfg = 0;
		pclose(f);
	}
	if (cfg < 0)
		KH_SKIP("no /proc/config.gz naming CONFIG_KVM_MMU_LOCKLESS_AGING (before 6.15, "
			"or no IKCONFIG): nothing to compare with");
	probe(&p, 0, KH_M_MAX);
	printf("# config says %d, probe says %d\n", cfg, p.env.lockless_aging);
	assert_int_equal(p.env.lockless_aging, cfg);
	kh_probe_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walk_source_attaches),
		cmocka_unit_test(test_fexit_aging),
		cmocka_unit_test(test_kprobe_aging),
		cmocka_unit_test(test_forced_method_is_respected),
		cmocka_unit_test(test_unavailable_hooks_say_why),
		cmocka_unit_test(test_spp_reported_consistently),
		cmocka_unit_test(test_lockless_aging_matches_config),
	};

	libbpf_set_print(NULL);
	return cmocka_run_group_tests_name("probing on the running kernel", tests, NULL, NULL);
}
