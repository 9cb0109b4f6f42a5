// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * VM names (src/vmname.c): QEMU's -name/-uuid syntax with its ',,' escape,
 * libvirt run-state files, hostile bytes, the name resolver, CSV quoting,
 * and the name tail of recordings (format 1.1) read back and sanitised.
 */
#define _GNU_SOURCE
#include "khtest.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include "kh.h"
#include "datafile.h"

#define CMD(lit) lit, sizeof(lit) - 1	/* a NUL-separated argv literal and its length */

static void test_cmdline_forms(void **state)
{
	struct kh_vm_ident id;

	assert_int_equal(kh_ident_from_cmdline(CMD("qemu-system-x86_64\0-name\0"
			 "guest=web1,debug-threads=on\0-uuid\0"
			 "6F1B2C3D-0000-4000-8000-00000000ABCD\0-m\0256\0"), &id), 0);
	assert_string_equal(id.name, "web1");
	assert_string_equal(id.uuid, "6f1b2c3d-0000-4000-8000-00000000abcd");
	assert_int_equal(id.source, KH_NAME_CMDLINE);
	/* the implied first key is guest; ',,' is a literal comma */
	assert_int_equal(kh_ident_from_cmdline(CMD("q\0-name\0a,,b,process=qp\0"), &id), 0);
	assert_string_equal(id.name, "a,b");
	assert_string_equal(id.uuid, "");
	assert_int_equal(kh_ident_from_cmdline(CMD("q\0--name\0process=x,guest=x,,y,,\0"), &id),
			 0);
	assert_string_equal(id.name, "x,y,");
	assert_int_equal(kh_ident_from_cmdline(CMD("q\0-name\0guest=a=b\0"), &id), 0);
	assert_string_equal(id.name, "a=b");
	/* the last -name wins, as QEMU merges them */
	assert_int_equal(kh_ident_from_cmdline(CMD("q\0-name\0one\0-name\0guest=two\0"), &id), 0);
	assert_string_equal(id.name, "two");
	/* a bad uuid is dropped, the name kept */
	assert_int_equal(kh_ident_from_cmdline(CMD("q\0-name\0n\0-uuid\0not-a-uuid\0"), &id), 0);
	assert_string_equal(id.uuid, "");
	/* no guest name: nothing */
	assert_int_equal(kh_ident_from_cmdline(CMD("q\0-name\0process=p,debug-threads=on\0"),
					       &id), -ENOENT);
	assert_int_equal(kh_ident_from_cmdline(CMD("q\0-name\0guest=\0"), &id), -ENOENT);
	assert_int_equal(kh_ident_from_cmdline(CMD("khguest\0--mem\0064\0"), &id), -ENOENT);
	/* -name as the very last word, with or without its NUL */
	assert_int_equal(kh_ident_from_cmdline(CMD("q\0-name\0"), &id), -ENOENT);
	assert_int_equal(kh_ident_from_cmdline(CMD("q\0-name"), &id), -ENOENT);
	assert_int_equal(kh_ident_from_cmdline("", 0, &id), -ENOENT);
}

static void test_hostile_names(void **state)
{
	struct kh_vm_ident id;
	char big[600], buf[KH_NAME_MAX + 1];
	size_t n;

	assert_int_equal(kh_ident_from_cmdline(CMD("q\0-name\0bad\x1b[31m\ttab\x7f\0"), &id), 0);
	assert_string_equal(id.name, "bad?[31m?tab?");
	/* invalid UTF-8, an overlong '/', a surrogate and a C1 control become '?' */
	kh_name_sanitize(buf, sizeof(buf), "\xff\xfe|\xc0\xaf|\xed\xa0\x80|\xc2\x85|", 16);
	assert_string_equal(buf, "??|??|???|?|");
	/* valid UTF-8 stays */
	kh_name_sanitize(buf, sizeof(buf), "g\xc3\xa4st-\xe2\x82\xac", 9);
	assert_string_equal(buf, "g\xc3\xa4st-\xe2\x82\xac");
	/* bounded, and never cut inside a character */
	memset(big, 'a', sizeof(big));
	memcpy(big + KH_NAME_MAX - 1, "\xc3\xa4", 2);
	kh_name_sanitize(buf, sizeof(buf), big, sizeof(big));
	assert_int_equal(strlen(buf), KH_NAME_MAX - 1);
	/* a very long -name value on the command line */
	n = snprintf(big, sizeof(big), "q%c-name%c", 0, 0);
	memset(big + n, 'z', sizeof(big) - n - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(kh_ident_from_cmdline(big, sizeof(big), &id), 0);
	assert_int_equal(strlen(id.name), KH_NAME_MAX);
}

static char dir[] = "/tmp/kh-vmname-XXXXXX";

static void put(const char *name, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_libvirt_files(void **state)
{
	struct kh_vm_ident id;
	char p[256];

	assert_non_null(mkdtemp(dir));
	put("db1.pid", "4242\n");
	put("db1.xml", "<domstatus state='running' pid='4242'>\n"
		       " <vcpus/>\n <domain type='kvm' id='3'>\n"
		       "  <name>db&lt;1&gt;</name>\n"
		       "  <uuid>\n  0A1B2C3D-4E5F-4061-8273-9485A6B7C8D9 </uuid>\n"
		       "  <metadata><name>not this</name></metadata>\n"
		       " </domain>\n</domstatus>\n");
	put("web.pid", "77");
	put("web.xml", "<domstatus><domain><name>broken");	/* not well-formed */
	put("other.pid", "99999999999999999999");
	assert_int_equal(kh_ident_from_libvirt(dir, 4242, &id), 0);
	assert_string_equal(id.name, "db<1>");
	assert_string_equal(id.uuid, "0a1b2c3d-4e5f-4061-8273-9485a6b7c8d9");
	assert_int_equal(id.source, KH_NAME_LIBVIRT);
	/* an unreadable status file: the pid file's name is the domain's */
	assert_int_equal(kh_ident_from_libvirt(dir, 77, &id), 0);
	assert_string_equal(id.name, "web");
	assert_string_equal(id.uuid, "");
	assert_int_equal(kh_ident_from_libvirt(dir, 1234, &id), -ENOENT);
	assert_int_equal(kh_ident_from_libvirt("/nonexistent/kh", 1, &id), -ENOENT);
	/* a bare <domain> document (libvirt's config form) reads too */
	assert_int_equal(kh_ident_from_libvirt_xml(CMD("<domain><name>cfg</name></domain>"), &id),
			 0);
	assert_string_equal(id.name, "cfg");
	assert_int_equal(kh_ident_from_libvirt_xml(CMD("<domain><uuid>x</uuid></domain>"), &id),
			 -EBADMSG);
	/* KH_LIBVIRT_DIR is where kh_ident_learn looks first */
	setenv("KH_LIBVIRT_DIR", dir, 1);
	kh_ident_learn(4242, "qemu-kvm", &id);
	assert_string_equal(id.name, "db<1>");
	kh_ident_learn(getpid(), "test_vmname", &id);
	assert_int_equal(id.source, KH_NAME_COMM);
	assert_string_equal(id.name, "test_vmname");
	unsetenv("KH_LIBVIRT_DIR");
	for (const char *const *f = (const char *const[]){ "db1.pid", "db1.xml", "web.pid",
							   "web.xml", "other.pid", NULL }; *f; f++) {
		snprintf(p, sizeof(p), "%s/%s", dir, *f);
		unlink(p);
	}
	rmdir(dir);
}

static void test_resolver(void **state)
{
	struct kh_vm vms[4] = {
		{ .pid = 10, .ident = { "alpha", "0a1b2c3d-4e5f-4061-8273-9485a6b7c8d9", 2 } },
		{ .pid = 11, .ident = { "beta", "", 2 } },
		{ .pid = 12, .ident = { "beta", "", 2 } },
		{ .pid = 10, .ident = { "alpha", "", 2 } },	/* a second VM of pid 10 */
	};
	struct kh_vmset set = { .n = 4, .vms = vms };
	uint32_t pid = 0;
	char why[256];

	assert_int_equal(kh_vms_by_name(&set, "alpha", &pid, why, sizeof(why)), 0);
	assert_int_equal(pid, 10);
	assert_int_equal(kh_vms_by_name(&set, "0A1B2C3D-4E5F-4061-8273-9485A6B7C8D9", &pid, why,
					sizeof(why)), 0);
	assert_int_equal(pid, 10);
	assert_int_equal(kh_vms_by_name(&set, "beta", &pid, why, sizeof(why)), -EEXIST);
	assert_non_null(strstr(why, "pids 11 12"));
	assert_int_equal(kh_vms_by_name(&set, "gamma", &pid, why, sizeof(why)), -ENOENT);
	assert_true(kh_name_arg_ok("web-1"));
	assert_false(kh_name_arg_ok(""));
	assert_false(kh_name_arg_ok("123"));
	assert_false(kh_name_arg_ok("0x10"));
	assert_false(kh_name_arg_ok("a\nb"));
	assert_int_equal(kh_resolve_vm("4321", &pid, why, sizeof(why)), 0);
	assert_int_equal(pid, 4321);
	assert_int_equal(kh_resolve_vm("0", &pid, why, sizeof(why)), -EINVAL);
}

static void test_csv_field(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	kh_csv_field(f, "plain");
	fputc('|', f);
	kh_csv_field(f, "a,b");
	fputc('|', f);
	kh_csv_field(f, "say \"hi\"");
	fclose(f);
	assert_string_equal(buf, "plain|\"a,b\"|\"say \"\"hi\"\"\"");
	free(buf);
}

/* A VM record's name tail is written, read back, and re-sanitised on reading. */
static void test_recording_names(void **state)
{
	struct kh_vm_ident id = { "web,1", "0a1b2c3d-4e5f-4061-8273-9485a6b7c8d9",
				  KH_NAME_CMDLINE };
	struct kh_slot sl = { .base_gfn = 0x100, .npages = 16, .hva = 0x7f0000000000 };
	struct {
		struct kh_df_vm v;
		struct kh_slot s;
		struct kh_df_vm_ident i;
	} evil = { .v = { .pid = 3, .nr_slots = 1, .slot_size = sizeof(struct kh_slot),
			  .comm = "evil" } };
	char p[] = "/tmp/kh-vmname-rec-XXXXXX", why[256];
	struct kh_rd_vm *rv;
	struct kh_recording r;
	struct kh_dw w;
	uint32_t pid = 0;
	int fd = mkstemp(p);

	assert_true(fd >= 0);
	memset(evil.i.name, '\x1b', sizeof(evil.i.name));	/* no NUL, all control */
	memcpy(evil.i.uuid, "zzzz", 4);
	evil.i.name_source = KH_NAME_LIBVIRT;
	assert_int_equal(kh_dw_fdopen(&w, fd), 0);
	assert_int_equal(kh_dw_vm_id(&w, 1, 0xaa, 1, 2, "qemu", &id, &sl, 1, KH_DFV_INITIAL), 0);
	assert_int_equal(kh_dw_vm(&w, 1, 0xbb, 2, 1, "old", &sl, 1, 0), 0);	/* 1.0 form */
	assert_int_equal(kh_dw_add(&w, KH_DF_VM, &evil, sizeof(evil)), 0);
	assert_int_equal(kh_dw_footer(&w, 2, -1, KH_END_SIGNAL), 0);
	assert_int_equal(kh_dw_flush(&w), 0);
	close(fd);
	free(w.buf);
	free(w.zbuf);
	assert_int_equal(kh_df_read_file(p, 0, &r, why, sizeof(why)), 0);
	unlink(p);
	assert_int_equal(r.minor, KH_DF_MINOR);	/* the writer's own */
	rv = kh_rd_find_vm(&r, 1);
	assert_non_null(rv);
	assert_string_equal(rv->ident.name, "web,1");
	assert_string_equal(rv->ident.uuid, id.uuid);
	assert_int_equal(rv->ident.source, KH_NAME_CMDLINE);
	assert_int_equal(rv->nr_slots, 1);
	rv = kh_rd_find_vm(&r, 2);
	assert_int_equal(rv->ident.source, KH_NAME_NONE);
	rv = kh_rd_find_vm(&r, 3);
	assert_int_equal(strspn(rv->ident.name, "?"), KH_NAME_MAX);
	assert_string_equal(rv->ident.uuid, "");
	assert_int_equal(kh_rd_pid_by_name(&r, "web,1", &pid, why, sizeof(why)), 0);
	assert_int_equal(pid, 1);
	assert_int_equal(kh_rd_pid_by_name(&r, "old", &pid, why, sizeof(why)), -ENOENT);
	kh_rd_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmdline_forms),
		cmocka_unit_test(test_hostile_names),
		cmocka_unit_test(test_libvirt_files),
		cmocka_unit_test(test_resolver),
		cmocka_unit_test(test_csv_field),
		cmocka_unit_test(test_recording_names),
	};

	return cmocka_run_group_tests_name("VM names and identity", tests, NULL, NULL);
}
