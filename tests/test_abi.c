// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The BPF and user views of every shared struct agree: sizes and member
 * offsets from the compiled objects' BTF against sizeof/offsetof here, and
 * the skeleton's map key/value types against what userspace passes.
 */
#include "khtest.h"
#include <errno.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "kh.h"
#include "kvmheat.skel.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

struct abi_member {
	const char *name;
	size_t off;
	size_t size;
};

struct abi_struct {
	const char *name;
	size_t size;
	const struct abi_member *m;
	size_t n;
};

#define M(s, f)		{ #f, offsetof(struct s, f), sizeof(((struct s *)0)->f) }
#define S(s)		{ #s, sizeof(struct s), s##_m, ARRAY_SIZE(s##_m) }

static const struct abi_member kh_key_m[] = {
	M(kh_key, pid), M(kh_key, _pad), M(kh_key, idx),
};
static const struct abi_member kh_counts_m[] = {
	M(kh_counts, accesses), M(kh_counts, writes), M(kh_counts, faults),
	M(kh_counts, aged), M(kh_counts, young), M(kh_counts, tracked),
	M(kh_counts, spp), M(kh_counts, subpage_mask), M(kh_counts, flags),
};
static const struct abi_member kh_region_m[] = {
	M(kh_region, c), M(kh_region, touched), M(kh_region, coarse_aged),
	M(kh_region, coarse_young), M(kh_region, coarse_pages), M(kh_region, _rsv),
};
static const struct abi_member kh_subpages_m[] = {
	M(kh_subpages, cnt),
};
static const struct abi_member kh_hva_slot_m[] = {
	M(kh_hva_slot, hva_start), M(kh_hva_slot, hva_end), M(kh_hva_slot, base_gfn),
	M(kh_hva_slot, kvm), M(kh_hva_slot, pid), M(kh_hva_slot, _pad),
};
static const struct abi_member kh_idle_slot_desc_m[] = {
	M(kh_idle_slot_desc, base_gfn), M(kh_idle_slot_desc, npages),
	M(kh_idle_slot_desc, word_off), M(kh_idle_slot_desc, map), M(kh_idle_slot_desc, pid),
	M(kh_idle_slot_desc, region_off),
};
static const struct abi_member kh_walk_state_m[] = {
	M(kh_walk_state, addr), M(kh_walk_state, pferr), M(kh_walk_state, tid),
};
static const struct abi_member kh_rec_hdr_m[] = {
	M(kh_rec_hdr, type), M(kh_rec_hdr, size), M(kh_rec_hdr, _pad),
};
static const struct abi_member kh_vm_rec_m[] = {
	M(kh_vm_rec, hdr), M(kh_vm_rec, kvm), M(kh_vm_rec, pid), M(kh_vm_rec, fd),
	M(kh_vm_rec, nr_vcpus), M(kh_vm_rec, nr_as), M(kh_vm_rec, comm),
};
static const struct abi_member kh_slot_rec_m[] = {
	M(kh_slot_rec, hdr), M(kh_slot_rec, kvm), M(kh_slot_rec, base_gfn),
	M(kh_slot_rec, npages), M(kh_slot_rec, hva), M(kh_slot_rec, pid),
	M(kh_slot_rec, id), M(kh_slot_rec, as_id), M(kh_slot_rec, flags),
	M(kh_slot_rec, _pad),
};
static const struct abi_member kh_iter_err_rec_m[] = {
	M(kh_iter_err_rec, hdr), M(kh_iter_err_rec, kvm), M(kh_iter_err_rec, pid),
	M(kh_iter_err_rec, code),
};

static const struct abi_struct abi_structs[] = {
	S(kh_key), S(kh_counts), S(kh_region), S(kh_subpages), S(kh_hva_slot),
	S(kh_idle_slot_desc), S(kh_walk_state), S(kh_rec_hdr), S(kh_vm_rec), S(kh_slot_rec), S(kh_iter_err_rec),
};

static const struct abi_struct *abi_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(abi_structs); i++)
		if (!strcmp(abi_structs[i].name, name))
			return &abi_structs[i];
	return NULL;
}

static struct btf *open_obj_btf(const char *obj)
{
	char path[512];
	struct btf *btf;

	snprintf(path, sizeof(path), "%s/%s", kh_build_dir(), obj);
	btf = btf__parse_elf(path, NULL);
	if (!btf)
		fail_msg("btf__parse_elf(%s): %s", path, strerror(errno));
	return btf;
}

/* Compare one struct's BTF with the table; returns 0 if absent from @btf. */
static int check_struct(const struct btf *btf, const struct abi_struct *a, const char *obj)
{
	const struct btf_member *bm;
	const struct btf_type *t;
	int id = btf__find_by_name_kind(btf, a->name, BTF_KIND_STRUCT);

	if (id < 0)
		return 0;
	t = btf__type_by_id(btf, id);
	if (t->size != a->size)
		fail_msg("%s: struct %s is %u bytes in BPF, %zu in userspace", obj, a->name,
			 t->size, a->size);
	if (btf_vlen(t) != a->n)
		fail_msg("%s: struct %s has %u members in BPF, %zu in userspace", obj, a->name,
			 btf_vlen(t), a->n);
	bm = btf_members(t);
	for (unsigned int i = 0; i < btf_vlen(t); i++) {
		const char *mname = btf__name_by_offset(btf, bm[i].name_off);
		uint32_t bits = btf_member_bit_offset(t, i);
		const struct abi_member *m = NULL;
		long long msize;

		for (size_t j = 0; j < a->n; j++)
			if (!strcmp(a->m[j].name, mname))
				m = &a->m[j];
		if (!m)
			fail_msg("%s: %s.%s is not in userspace's view", obj, a->name, mname);
		if (btf_member_bitfield_size(t, i) || bits % 8)
			fail_msg("%s: %s.%s is a bitfield", obj, a->name, mname);
		if (bits / 8 != m->off)
			fail_msg("%s: %s.%s at byte %u in BPF, %zu in userspace", obj, a->name,
				 mname, bits / 8, m->off);
		msize = btf__resolve_size(btf, bm[i].type);
		if (msize < 0 || (size_t)msize != m->size)
			fail_msg("%s: %s.%s is %lld bytes in BPF, %zu in userspace", obj, a->name,
				 mname, msize, m->size);
	}
	return 1;
}

/* The map types live here: all of them must be present. */
static void test_btf_kvmheat_obj(void **state)
{
	static const char *const must[] = {
		"kh_key", "kh_counts", "kh_region", "kh_subpages", "kh_hva_slot", "kh_walk_state",
		"kh_idle_slot_desc",
	};
	struct btf *btf = open_obj_btf("kvmheat.bpf.o");
	int found = 0;

	for (size_t i = 0; i < ARRAY_SIZE(must); i++)
		if (btf__find_by_name_kind(btf, must[i], BTF_KIND_STRUCT) < 0)
			fail_msg("kvmheat.bpf.o: struct %s missing from BTF", must[i]);
	for (size_t i = 0; i < ARRAY_SIZE(abi_structs); i++)
		found += check_struct(btf, &abi_structs[i], "kvmheat.bpf.o");
	assert_true(found >= (int)ARRAY_SIZE(must));
	btf__free(btf);
}

static void test_btf_vms_obj(void **state)
{
	struct btf *btf = open_obj_btf("vms.bpf.o");
	int found = 0;

	for (size_t i = 0; i < ARRAY_SIZE(abi_structs); i++)
		found += check_struct(btf, &abi_structs[i], "vms.bpf.o");
	btf__free(btf);
	/*
	 * The records are only stack locals handed to bpf_seq_write(), which
	 * clang leaves out of BTF: nothing to compare against, so say so.
	 */
	if (!found)
		KH_SKIP("vms.bpf.o BTF has none of the shared structs (records are stack "
			"locals only); its record layouts are checked by _Static_assert alone");
}

/* The table itself is right: a spot check that M() really records offsets. */
static void test_abi_table(void **state)
{
	const struct abi_struct *a = abi_find("kh_slot_rec");

	assert_non_null(a);
	assert_int_equal(a->size, 56);
	assert_string_equal(a->m[8].name, "flags");
	assert_int_equal(a->m[8].off, 48);
	assert_int_equal(a->m[8].size, 4);
	assert_null(abi_find("kh_nope"));
}

static void check_map(const struct bpf_object *obj, const struct bpf_map *map,
		      size_t key_size, size_t value_size, const char *value_type)
{
	const char *name = bpf_map__name(map);
	const struct btf *btf = bpf_object__btf(obj);
	const struct btf_type *t;

	if (bpf_map__key_size(map) != key_size)
		fail_msg("map %s: key %u bytes, userspace uses %zu", name,
			 bpf_map__key_size(map), key_size);
	if (bpf_map__value_size(map) != value_size)
		fail_msg("map %s: value %u bytes, userspace uses %zu", name,
			 bpf_map__value_size(map), value_size);
	if (!value_type)
		return;
	/* kh_region and kh_subpages are both 128 bytes: sizes alone can't tell. */
	assert_non_null(btf);
	t = btf__type_by_id(btf, bpf_map__btf_value_type_id(map));
	if (!t || strcmp(btf__name_by_offset(btf, t->name_off), value_type))
		fail_msg("map %s: value type is '%s', want struct %s", name,
			 t ? btf__name_by_offset(btf, t->name_off) : "?", value_type);
}

static void test_skeleton_maps(void **state)
{
	struct kvmheat_bpf *skel;

	libbpf_set_print(NULL);
	skel = kvmheat_bpf__open();
	if (!skel)
		fail_msg("kvmheat_bpf__open: %s", strerror(errno));
	/* keys and values as session.c and maps.c pass them */
	check_map(skel->obj, skel->maps.gfns, sizeof(struct kh_key), sizeof(struct kh_counts),
		  "kh_counts");
	check_map(skel->obj, skel->maps.regions, sizeof(struct kh_key), sizeof(struct kh_region),
		  "kh_region");
	check_map(skel->obj, skel->maps.subpages, sizeof(struct kh_key),
		  sizeof(struct kh_subpages), "kh_subpages");
	check_map(skel->obj, skel->maps.hva_slots, sizeof(uint32_t), sizeof(struct kh_hva_slot),
		  "kh_hva_slot");
	check_map(skel->obj, skel->maps.vm_by_kvm, sizeof(((struct kh_vm *)0)->kvm),
		  sizeof(((struct kh_vm *)0)->pid), NULL);
	check_map(skel->obj, skel->maps.walk_state, sizeof(uint32_t),
		  sizeof(struct kh_walk_state), "kh_walk_state");
	check_map(skel->obj, skel->maps.stats, sizeof(uint32_t), sizeof(uint64_t), NULL);
	assert_int_equal(bpf_map__max_entries(skel->maps.stats), KH_NR_STATS);
	assert_int_equal(bpf_map__max_entries(skel->maps.hva_slots), KH_MAX_HVA_SLOTS);
	/* idle bits: slot descriptors as scan.c and cmd_idle.c write them, words as mmapped */
	check_map(skel->obj, skel->maps.idle_slots, sizeof(uint32_t),
		  sizeof(struct kh_idle_slot_desc), "kh_idle_slot_desc");
	assert_int_equal(bpf_map__max_entries(skel->maps.idle_slots), KH_IDLE_SLOTS);
	/* one array per VM in idle_bits[desc.map] (session.c makes them: u32 keys, u64 words) */
	check_map(skel->obj, skel->maps.idle_bits, sizeof(uint32_t), sizeof(uint32_t), NULL);
	assert_int_equal(bpf_map__max_entries(skel->maps.idle_bits), KH_IDLE_SLOTS);
	assert_non_null(bpf_map__inner_map(skel->maps.idle_bits));
	check_map(skel->obj, bpf_map__inner_map(skel->maps.idle_bits), sizeof(uint32_t),
		  sizeof(uint64_t), NULL);
	assert_int_equal(bpf_map__map_flags(bpf_map__inner_map(skel->maps.idle_bits)),
			 BPF_F_MMAPABLE | BPF_F_INNER_MAP);
	kvmheat_bpf__destroy(skel);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abi_table),
		cmocka_unit_test(test_btf_kvmheat_obj),
		cmocka_unit_test(test_btf_vms_obj),
		cmocka_unit_test(test_skeleton_maps),
	};

	return cmocka_run_group_tests_name("abi", tests, NULL, NULL);
}
