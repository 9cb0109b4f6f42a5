// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Parsing the VM iterator's record stream, built from the real ABI structs. */
#include "khtest.h"
#include <errno.h>
#include "kh.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define KVM_A		0xffff888012340000ULL
#define KVM_B		0xffff888056780000ULL
#define KVM_GONE	0xffff8880deadb000ULL

/* A record stream as the iterator would write it. */
struct rbuf {
	uint8_t b[2048];
	size_t len;
};

static void put(struct rbuf *r, const void *rec, size_t size)
{
	assert_true(r->len + size <= sizeof(r->b));
	memcpy(r->b + r->len, rec, size);
	r->len += size;
}

static void put_vm(struct rbuf *r, uint64_t kvm, uint32_t pid, uint32_t fd, uint32_t vcpus,
		   const char *comm)
{
	struct kh_vm_rec v;
	size_t n = strlen(comm);

	memset(&v, 0, sizeof(v));
	v.hdr.type = KH_REC_VM;
	v.hdr.size = sizeof(v);
	v.kvm = kvm;
	v.pid = pid;
	v.fd = fd;
	v.nr_vcpus = vcpus;
	v.nr_as = 2;
	memcpy(v.comm, comm, n < sizeof(v.comm) ? n : sizeof(v.comm));
	put(r, &v, sizeof(v));
}

static void put_slot(struct rbuf *r, uint64_t kvm, uint32_t pid, uint16_t id, uint16_t as_id,
		     uint64_t base, uint64_t npages, uint64_t hva, uint32_t flags)
{
	struct kh_slot_rec s;

	memset(&s, 0, sizeof(s));
	s.hdr.type = KH_REC_SLOT;
	s.hdr.size = sizeof(s);
	s.kvm = kvm;
	s.pid = pid;
	s.id = id;
	s.as_id = as_id;
	s.base_gfn = base;
	s.npages = npages;
	s.hva = hva;
	s.flags = flags;
	put(r, &s, sizeof(s));
}

static void put_err(struct rbuf *r, uint64_t kvm, uint32_t pid, uint32_t code)
{
	struct kh_iter_err_rec e;

	memset(&e, 0, sizeof(e));
	e.hdr.type = KH_REC_ITER_ERR;
	e.hdr.size = sizeof(e);
	e.kvm = kvm;
	e.pid = pid;
	e.code = code;
	put(r, &e, sizeof(e));
}

/* A header claiming @size, followed by @body bytes of filler. */
static void put_raw(struct rbuf *r, uint16_t type, uint16_t size, size_t body)
{
	struct kh_rec_hdr h = { .type = type, .size = size };
	uint8_t fill[256];

	assert_true(body <= sizeof(fill));
	memset(fill, 0x5a, sizeof(fill));
	put(r, &h, sizeof(h));
	put(r, fill, body);
}

static void assert_slot(const struct kh_slot *s, uint16_t id, uint16_t as_id, uint64_t base,
			uint64_t npages, uint64_t hva, uint32_t flags)
{
	assert_int_equal(s->id, id);
	assert_int_equal(s->as_id, as_id);
	assert_int_equal(s->base_gfn, base);
	assert_int_equal(s->npages, npages);
	assert_int_equal(s->hva, hva);
	assert_int_equal(s->flags, flags);
}

static void test_parse_empty(void **state)
{
	struct kh_vmset set = { 0 };
	char why[128] = "";

	assert_int_equal(kh_vms_parse("", 0, &set, why, sizeof(why)), 0);
	assert_int_equal(set.n, 0);
	kh_vms_free(&set);
	assert_null(set.vms);
}

static void test_parse_one_vm(void **state)
{
	struct rbuf r = { .len = 0 };
	struct kh_vmset set = { 0 };
	char why[128] = "";
	struct kh_vm *vm;

	/* 16 characters: fills comm with no NUL in the record */
	put_vm(&r, KVM_A, 4242, 12, 4, "qemu-system-x86_");
	put_slot(&r, KVM_A, 4242, 2, 0, 0x100000, 0x40000, 0x7f0000000000ULL, 0);
	put_slot(&r, KVM_A, 4242, 0, 1, 0, 0x20, 0x7f1000000000ULL, 1);
	put_slot(&r, KVM_A, 4242, 0, 0, 0, 0xc0000, 0x7e0000000000ULL, 2);

	assert_int_equal(kh_vms_parse(r.b, r.len, &set, why, sizeof(why)), 0);
	assert_int_equal(set.n, 1);
	vm = &set.vms[0];
	assert_int_equal(vm->pid, 4242);
	assert_int_equal(vm->kvm, KVM_A);
	assert_int_equal(vm->nr_vcpus, 4);
	assert_string_equal(vm->comm, "qemu-system-x86_");
	assert_int_equal(vm->iter_err, 0);
	assert_int_equal(vm->nr_slots, 3);
	/* sorted by as_id, then base_gfn */
	assert_slot(&vm->slots[0], 0, 0, 0, 0xc0000, 0x7e0000000000ULL, 2);
	assert_slot(&vm->slots[1], 2, 0, 0x100000, 0x40000, 0x7f0000000000ULL, 0);
	assert_slot(&vm->slots[2], 0, 1, 0, 0x20, 0x7f1000000000ULL, 1);
	assert_int_equal(kh_vm_pages(vm), 0x100000);	/* 4 GiB, SMM excluded */
	assert_ptr_equal(kh_vms_find(&set, 4242), vm);
	assert_null(kh_vms_find(&set, 4243));
	kh_vms_free(&set);
	assert_int_equal(set.n, 0);
	assert_null(set.vms);
}

/* dup(2) of the kvm-vm fd: two VM records and two slot sets for one struct kvm. */
static void test_parse_dup_fd(void **state)
{
	struct rbuf r = { .len = 0 };
	struct kh_vmset set = { 0 };
	char why[128] = "";
	struct kh_vm *a, *b;

	put_vm(&r, KVM_A, 10, 5, 2, "vmm");
	put_slot(&r, KVM_A, 10, 0, 0, 0, 0x100, 0x1000000, 0);
	put_slot(&r, KVM_A, 10, 1, 0, 0x1000, 0x80, 0x2000000, 0);
	put_vm(&r, KVM_B, 11, 5, 1, "other");
	put_slot(&r, KVM_B, 11, 0, 0, 0, 0x10, 0x3000000, 0);
	put_vm(&r, KVM_A, 10, 6, 2, "vmm");
	put_slot(&r, KVM_A, 10, 0, 0, 0, 0x100, 0x1000000, 0);
	put_slot(&r, KVM_A, 10, 1, 0, 0x1000, 0x80, 0x2000000, 0);

	assert_int_equal(kh_vms_parse(r.b, r.len, &set, why, sizeof(why)), 0);
	assert_int_equal(set.n, 2);
	a = kh_vms_find(&set, 10);
	b = kh_vms_find(&set, 11);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->kvm, KVM_A);
	assert_int_equal(a->nr_slots, 2);
	assert_slot(&a->slots[0], 0, 0, 0, 0x100, 0x1000000, 0);
	assert_slot(&a->slots[1], 1, 0, 0x1000, 0x80, 0x2000000, 0);
	assert_int_equal(kh_vm_pages(a), 0x180);
	assert_int_equal(b->kvm, KVM_B);
	assert_int_equal(b->nr_slots, 1);
	assert_string_equal(b->comm, "other");
	kh_vms_free(&set);
}

static void test_parse_unknown_type_skipped(void **state)
{
	struct rbuf r = { .len = 0 };
	struct kh_vmset set = { 0 };
	char why[128] = "";

	put_vm(&r, KVM_A, 7, 3, 1, "vm7");
	put_raw(&r, 77, sizeof(struct kh_rec_hdr) + 16, 16);
	put_raw(&r, 200, sizeof(struct kh_rec_hdr), 0);	/* header only */
	put_raw(&r, 0, sizeof(struct kh_rec_hdr) + 8, 8);
	put_slot(&r, KVM_A, 7, 3, 0, 0x40, 0x10, 0x5000, 0);
	put_err(&r, KVM_A, 7, KH_ITER_E_LAYOUT);

	assert_int_equal(kh_vms_parse(r.b, r.len, &set, why, sizeof(why)), 0);
	assert_int_equal(set.n, 1);
	assert_int_equal(set.vms[0].nr_slots, 1);
	assert_slot(&set.vms[0].slots[0], 3, 0, 0x40, 0x10, 0x5000, 0);
	assert_int_equal(set.vms[0].iter_err, KH_ITER_E_LAYOUT);
	kh_vms_free(&set);
}

/* Parse @r, expect -EBADMSG with a reason that contains @needle. */
static void expect_bad(const struct rbuf *r, const char *needle)
{
	struct kh_vmset set = { 0 };
	char why[128] = "";

	assert_int_equal(kh_vms_parse(r->b, r->len, &set, why, sizeof(why)), -EBADMSG);
	assert_true(why[0] != 0);
	if (!strstr(why, needle))
		fail_msg("reason '%s' does not contain '%s'", why, needle);
	kh_vms_free(&set);	/* records parsed before the error are freed too */
	assert_int_equal(set.n, 0);
}

static void test_parse_truncated_header(void **state)
{
	struct rbuf r = { .len = 0 };
	uint8_t half[4] = { KH_REC_SLOT, 0, 56, 0 };

	put_vm(&r, KVM_A, 7, 3, 1, "vm7");
	put_slot(&r, KVM_A, 7, 0, 0, 0, 1, 0, 0);
	put(&r, half, sizeof(half));
	expect_bad(&r, "header at byte 104");

	r.len = 0;
	put(&r, half, 1);
	expect_bad(&r, "header at byte 0");
}

static void test_parse_zero_size(void **state)
{
	struct rbuf r = { .len = 0 };

	put_vm(&r, KVM_A, 7, 3, 1, "vm7");
	put_raw(&r, KH_REC_SLOT, 0, 48);
	expect_bad(&r, "size 0 at byte 48");

	/* an unknown type must not be skipped by a size of 0 either */
	r.len = 0;
	put_vm(&r, KVM_A, 7, 3, 1, "vm7");
	put_raw(&r, 99, 0, 8);
	expect_bad(&r, "size 0 at byte 48");

	/* non-zero but smaller than the header itself */
	r.len = 0;
	put_vm(&r, KVM_A, 7, 3, 1, "vm7");
	put_raw(&r, 99, 4, 8);
	expect_bad(&r, "size 4 at byte 48");
}

static void test_parse_size_past_end(void **state)
{
	struct rbuf r = { .len = 0 };

	put_vm(&r, KVM_A, 7, 3, 1, "vm7");
	put_raw(&r, KH_REC_SLOT, sizeof(struct kh_slot_rec), 32);	/* 40 of 56 bytes */
	expect_bad(&r, "size 56 at byte 48");

	r.len = 0;
	put_vm(&r, KVM_A, 7, 3, 1, "vm7");
	put_raw(&r, 99, 0xffff, 16);
	expect_bad(&r, "size 65535 at byte 48");
}

static void test_parse_short_records(void **state)
{
	struct rbuf r = { .len = 0 };

	put_raw(&r, 99, 16, 8);
	put_raw(&r, KH_REC_VM, sizeof(struct kh_vm_rec) - 8, sizeof(struct kh_vm_rec) - 16);
	put_vm(&r, KVM_A, 7, 3, 1, "vm7");
	expect_bad(&r, "(40 bytes at byte 16)");

	r.len = 0;
	put_vm(&r, KVM_A, 7, 3, 1, "vm7");
	put_raw(&r, KH_REC_SLOT, sizeof(struct kh_slot_rec) - 8, sizeof(struct kh_slot_rec) - 16);
	expect_bad(&r, "(48 bytes at byte 48)");

	r.len = 0;
	put_vm(&r, KVM_A, 7, 3, 1, "vm7");
	put_raw(&r, KH_REC_ITER_ERR, sizeof(struct kh_iter_err_rec) - 4,
		sizeof(struct kh_iter_err_rec) - 12);
	expect_bad(&r, "(20 bytes at byte 48)");
}

static void test_parse_iter_err(void **state)
{
	struct rbuf r = { .len = 0 };
	struct kh_vmset set = { 0 };
	char why[128] = "";

	put_vm(&r, KVM_A, 20, 3, 1, "a");
	put_vm(&r, KVM_B, 21, 3, 1, "b");
	put_slot(&r, KVM_A, 20, 0, 0, 0, 0x10, 0, 0);
	put_err(&r, KVM_B, 21, KH_ITER_E_TOO_MANY);
	put_err(&r, KVM_GONE, 22, KH_ITER_E_LAYOUT);	/* no such VM: ignored */

	assert_int_equal(kh_vms_parse(r.b, r.len, &set, why, sizeof(why)), 0);
	assert_int_equal(set.n, 2);
	assert_int_equal(kh_vms_find(&set, 20)->iter_err, 0);
	assert_int_equal(kh_vms_find(&set, 20)->nr_slots, 1);
	assert_int_equal(kh_vms_find(&set, 21)->iter_err, KH_ITER_E_TOO_MANY);
	assert_int_equal(kh_vms_find(&set, 21)->nr_slots, 0);
	assert_null(kh_vms_find(&set, 22));
	kh_vms_free(&set);
}

static void test_parse_slot_unknown_kvm(void **state)
{
	struct rbuf r = { .len = 0 };
	struct kh_vmset set = { 0 };
	char why[128] = "";

	put_slot(&r, KVM_A, 30, 9, 0, 0x900, 1, 0, 0);	/* before its VM record */
	put_vm(&r, KVM_A, 30, 3, 1, "a");
	put_slot(&r, KVM_GONE, 31, 1, 0, 0x100, 0x10, 0, 0);
	put_slot(&r, KVM_A, 30, 0, 0, 0, 0x10, 0, 0);

	assert_int_equal(kh_vms_parse(r.b, r.len, &set, why, sizeof(why)), 0);
	assert_int_equal(set.n, 1);
	assert_int_equal(set.vms[0].kvm, KVM_A);
	assert_int_equal(set.vms[0].nr_slots, 1);
	assert_slot(&set.vms[0].slots[0], 0, 0, 0, 0x10, 0, 0);
	kh_vms_free(&set);
}

static void test_vm_pages_and_slot_of(void **state)
{
	struct kh_slot slots[] = {
		{ .base_gfn = 0, .npages = 0xa0, .id = 0, .as_id = 0 },
		{ .base_gfn = 0x100, .npages = 0x300, .id = 1, .as_id = 0 },
		{ .base_gfn = 0x1000, .npages = 0x10, .id = 0, .as_id = 1 },	/* SMM */
		{ .base_gfn = 0x2000, .npages = 0x7, .id = 2, .as_id = 0 },
	};
	struct kh_vm vm = { .pid = 1, .nr_slots = ARRAY_SIZE(slots), .slots = slots };
	struct kh_vm empty = { .pid = 2 };

	assert_int_equal(kh_vm_pages(&vm), 0xa0 + 0x300 + 0x7);
	assert_int_equal(kh_vm_slot_of(&vm, 0), 0);
	assert_int_equal(kh_vm_slot_of(&vm, 0x9f), 0);
	assert_int_equal(kh_vm_slot_of(&vm, 0xa0), -1);		/* hole */
	assert_int_equal(kh_vm_slot_of(&vm, 0xff), -1);
	assert_int_equal(kh_vm_slot_of(&vm, 0x100), 1);
	assert_int_equal(kh_vm_slot_of(&vm, 0x3ff), 1);
	assert_int_equal(kh_vm_slot_of(&vm, 0x400), -1);
	assert_int_equal(kh_vm_slot_of(&vm, 0x1000), -1);	/* only in as_id 1 */
	assert_int_equal(kh_vm_slot_of(&vm, 0x1008), -1);
	assert_int_equal(kh_vm_slot_of(&vm, 0x2006), 3);
	assert_int_equal(kh_vm_slot_of(&vm, 0x2007), -1);
	assert_int_equal(kh_vm_slot_of(&vm, UINT64_MAX), -1);
	assert_int_equal(kh_vm_pages(&empty), 0);
	assert_int_equal(kh_vm_slot_of(&empty, 0), -1);
}

/* heat and record keep every VM seen: one entry per VM instance, deep copies. */
static void test_vms_put(void **state)
{
	struct kh_slot s1[] = { { .base_gfn = 0, .npages = 0x10 } };
	struct kh_slot s2[] = { { .base_gfn = 0, .npages = 0x10 }, { .base_gfn = 0x100,
								    .npages = 0x20 } };
	struct kh_vm a = { .pid = 40, .kvm = KVM_A, .nr_slots = 1, .slots = s1 };
	struct kh_vm b = { .pid = 40, .kvm = KVM_B, .nr_slots = 0 };
	struct kh_vmset set = { 0 };

	assert_int_equal(kh_vms_put(&set, &a), 0);
	assert_int_equal(kh_vms_put(&set, &b), 0);
	assert_int_equal(set.n, 2);	/* same pid, another VM: both kept */
	assert_ptr_not_equal(set.vms[0].slots, s1);
	s1[0].npages = 0x99;		/* the set holds its own copy */
	assert_int_equal(kh_vms_find_kvm(&set, KVM_A, 40)->slots[0].npages, 0x10);
	a.nr_slots = 2;
	a.slots = s2;
	assert_int_equal(kh_vms_put(&set, &a), 0);
	assert_int_equal(set.n, 2);	/* the same VM again: replaced */
	assert_int_equal(kh_vms_find_kvm(&set, KVM_A, 40)->nr_slots, 2);
	assert_int_equal(kh_vms_find_kvm(&set, KVM_A, 40)->slots[1].base_gfn, 0x100);
	assert_non_null(kh_vms_find_kvm(&set, KVM_B, 40));
	assert_null(kh_vms_find_kvm(&set, KVM_B, 41));
	assert_null(kh_vms_find_kvm(&set, KVM_GONE, 40));
	kh_vms_free(&set);
}

/* An exiting VMM reads as its comm: a rediscovery then must not lose its name. */
static void test_vms_put_keeps_better_name(void **state)
{
	struct kh_vm a = { .pid = 40, .kvm = KVM_A,
			   .ident = { .name = "web-1", .source = KH_NAME_CMDLINE } };
	struct kh_vm late = { .pid = 40, .kvm = KVM_A,
			      .ident = { .name = "qemu-system-x86", .source = KH_NAME_COMM } };
	struct kh_vm lv = { .pid = 40, .kvm = KVM_A,
			    .ident = { .name = "db-2", .source = KH_NAME_LIBVIRT } };
	struct kh_vmset set = { 0 };

	assert_int_equal(kh_vms_put(&set, &a), 0);
	assert_int_equal(kh_vms_put(&set, &late), 0);
	assert_string_equal(kh_vms_find_kvm(&set, KVM_A, 40)->ident.name, "web-1");
	assert_int_equal(kh_vms_put(&set, &lv), 0);	/* a better source still wins */
	assert_string_equal(kh_vms_find_kvm(&set, KVM_A, 40)->ident.name, "db-2");
	kh_vms_free(&set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vms_put_keeps_better_name),
		cmocka_unit_test(test_parse_empty),
		cmocka_unit_test(test_parse_one_vm),
		cmocka_unit_test(test_parse_dup_fd),
		cmocka_unit_test(test_parse_unknown_type_skipped),
		cmocka_unit_test(test_parse_truncated_header),
		cmocka_unit_test(test_parse_zero_size),
		cmocka_unit_test(test_parse_size_past_end),
		cmocka_unit_test(test_parse_short_records),
		cmocka_unit_test(test_parse_iter_err),
		cmocka_unit_test(test_parse_slot_unknown_kvm),
		cmocka_unit_test(test_vm_pages_and_slot_of),
		cmocka_unit_test(test_vms_put),
	};

	return cmocka_run_group_tests_name("vms", tests, NULL, NULL);
}
