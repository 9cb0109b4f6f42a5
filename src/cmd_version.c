// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * kvmheat version: what this binary is and what it was built from, so a
 * bug report from a fleet host says which source, which libbpf and which
 * kernel's types it carries.  The git revision and the vmlinux.h origin
 * are baked in at build time (tools/gen-buildinfo.sh); the libbpf version
 * is asked of the library actually linked, and static-ness is read from
 * the running binary's own program headers.
 */
#include <getopt.h>
#include <link.h>
#include <sys/auxv.h>
#include <jansson.h>
#include <bpf/libbpf.h>
#include <bpf/libbpf_version.h>
#include "cli.h"
#include "kh_buildinfo.h"

static const char kh_version_help[] =
	"Usage: kvmheat version [-j]\n"
	"Print the version, the git revision it was built from (only when built\n"
	"from a git checkout), the libbpf version in use, the kernel whose BTF\n"
	"vmlinux.h was generated from, and whether this binary is static.\n"
	"  -j, --json           JSON output\n"
	"\n"
	"Examples:\n"
	"  kvmheat version\n"
	"  kvmheat version -j\n";

/* Static means no program interpreter: ldd's "not a dynamic executable". */
static bool kh_binary_static(void)
{
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
	unsigned long n = getauxval(AT_PHNUM);

	for (unsigned long i = 0; ph && i < n; i++)
		if (ph[i].p_type == PT_INTERP)
			return false;
	return true;
}

static json_t *kh_version_json(void)
{
	char lb[32], built[32];
	json_t *j;

	snprintf(lb, sizeof(lb), "%u.%u", libbpf_major_version(), libbpf_minor_version());
	snprintf(built, sizeof(built), "%d.%d", LIBBPF_MAJOR_VERSION, LIBBPF_MINOR_VERSION);
	j = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:b}",
		      "version", KH_VERSION, "libbpf", lb, "libbpf_built", built,
		      "vmlinux", "kernel", KH_VMLINUX_KERNEL, "arch", KH_VMLINUX_ARCH,
		      "btf", KH_VMLINUX_BTF, "generated", KH_VMLINUX_GENERATED,
		      "static", kh_binary_static());
#ifdef KH_GIT_REVISION
	json_object_set_new(j, "git_revision", json_string(KH_GIT_REVISION));
#endif
	return j;
}

static void kh_version_print(const json_t *j)
{
	const json_t *rev = json_object_get(j, "git_revision");

	printf("kvmheat %s\n", KH_VERSION);
	if (rev)
		printf("git revision: %s\n", json_string_value(rev));
	printf("libbpf: %s (built against %s)\n",
	       json_string_value(json_object_get(j, "libbpf")),
	       json_string_value(json_object_get(j, "libbpf_built")));
	printf("vmlinux.h from: %s %s (%s BTF, generated %s)\n", KH_VMLINUX_KERNEL,
	       KH_VMLINUX_ARCH, KH_VMLINUX_BTF, KH_VMLINUX_GENERATED);
	printf("static: %s\n", kh_binary_static() ? "yes" : "no");
}

/* argc 0: `kvmheat -V`, nothing to parse. */
int kh_cmd_version(int argc, char **argv, struct kh_opts *o)
{
	static const struct option longopts[] = { KH_LONGOPTS_END };
	struct kh_cmdline cl = {
		.cmd = "version", .o = o, .help = kh_version_help, .shortopts = "jvh",
		.longopts = longopts,
	};
	json_t *j;

	/* no letters of its own: parsed to the end, or stopped */
	if (argc > 0 && kh_getopt(&cl, argc, argv) == KH_OPT_STOP)
		return cl.rc;
	j = kh_version_json();
	if (!j)
		return kh_err(o, KH_EXIT_ERROR, "version: out of memory");
	if (o->json) {
		kh_json_print(j, JSON_INDENT(2));
		return KH_EXIT_OK;
	}
	kh_version_print(j);
	json_decref(j);
	return KH_EXIT_OK;
}
