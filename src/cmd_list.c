// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `kvmheat list`: running VMs with their vCPUs and memslots. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <jansson.h>
#include "cli.h"

static json_t *kh_vm_json(const struct kh_vm *vm)
{
	json_t *slots = json_array();

	for (size_t i = 0; i < vm->nr_slots; i++) {
		const struct kh_slot *s = &vm->slots[i];

		json_array_append_new(slots, json_pack(
			"{s:i, s:i, s:I, s:I, s:I, s:I, s:I}", "slot", s->id, "as_id", s->as_id,
			"gpa", (json_int_t)(s->base_gfn << KH_PAGE_SHIFT),
			"size", (json_int_t)(s->npages << KH_PAGE_SHIFT),
			"base_gfn", (json_int_t)s->base_gfn, "npages", (json_int_t)s->npages,
			"hva", (json_int_t)s->hva));
	}
	return json_pack("{s:i, s:s, s:s, s:o, s:s, s:i, s:I, s:o}", "pid", vm->pid,
			 "comm", vm->comm, "name", vm->ident.name,
			 "uuid", vm->ident.uuid[0] ? json_string(vm->ident.uuid) : json_null(),
			 "name_source", kh_name_source_str(vm->ident.source),
			 "vcpus", vm->nr_vcpus, "memory_bytes",
			 (json_int_t)(kh_vm_pages(vm) << KH_PAGE_SHIFT), "memslots", slots);
}

static void kh_vm_print(const struct kh_vm *vm)
{
	char b1[32];

	printf("%-8u %-16s %-20s %5u %10s %6zu  %s\n", vm->pid, vm->comm, vm->ident.name,
	       vm->nr_vcpus, kh_fmt_bytes(kh_vm_pages(vm) << KH_PAGE_SHIFT, b1, sizeof(b1)),
	       vm->nr_slots, vm->ident.uuid[0] ? vm->ident.uuid : "-");
	for (size_t i = 0; i < vm->nr_slots; i++) {
		const struct kh_slot *s = &vm->slots[i];
		char b2[32];

		printf("    slot %-4u as %u  gpa 0x%012" PRIx64 "-0x%012" PRIx64 "  %10s  hva 0x%" PRIx64
		       "\n", s->id, s->as_id, s->base_gfn << KH_PAGE_SHIFT,
		       (s->base_gfn + s->npages) << KH_PAGE_SHIFT,
		       kh_fmt_bytes(s->npages << KH_PAGE_SHIFT, b2, sizeof(b2)), s->hva);
	}
}

static const char kh_list_help[] =
	"Usage: kvmheat list [-j] [-p PID|NAME]\n"
	"List running KVM VMs: pid, comm, name, vCPUs, memory, memslots, uuid.\n"
	"Names come from libvirt, else QEMU's -name/-uuid, else the comm\n"
	"(JSON name_source: libvirt, cmdline or comm).\n"
	"  -p, --pid PID        only this VM (its VMM's pid or its name)\n"
	"  -j, --json           JSON output\n"
	"\n"
	"Examples:\n"
	"  kvmheat list\n"
	"  kvmheat list -j -p $(pidof qemu-system-x86_64)\n";

/* -p PID only; a return >= 0 is the exit code (help, bad option). */
static int kh_list_parse(int argc, char **argv, struct kh_opts *o, uint32_t *pid)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		KH_LONGOPTS_END,
	};
	struct kh_cmdline cl = {
		.cmd = "list", .o = o, .shortopts = "jp:vh", .longopts = longopts, .pid = pid,
		.help = kh_list_help,
	};

	return kh_getopt(&cl, argc, argv) == KH_OPT_STOP ? cl.rc : -1;
}

static int kh_list_main(uint32_t pid, struct kh_opts *o)
{
	struct kh_vmset set;
	char why[256];
	int err;

	kh_libbpf_quiet(o->verbose);
	err = kh_vms_discover(&set, why, sizeof(why));
	if (err)
		return kh_err(o, err == -EPERM ? KH_EXIT_ENV : KH_EXIT_ERROR, "list: %s%s%s", why,
			      err == -EPERM ? " (" KH_MSG_PRIVS : "", err == -EPERM ? ")" : "");
	if (pid && !kh_vms_find(&set, pid)) {
		kh_vms_free(&set);
		return kh_err(o, KH_EXIT_NO_VM, "list: " KH_MSG_NOT_VM, pid);
	}
	if (!set.n && !o->json)
		fprintf(stderr, "kvmheat: no KVM VMs are running\n");
	if (o->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < set.n; i++)
			if (!pid || set.vms[i].pid == pid)
				json_array_append_new(arr, kh_vm_json(&set.vms[i]));
		kh_json_print(json_pack("{s:o}", "vms", arr), JSON_INDENT(2));
	} else {
		printf("%-8s %-16s %-20s %5s %10s %6s  %s\n", "PID", "COMM", "NAME", "VCPUS",
		       "MEMORY", "SLOTS", "UUID");
		for (size_t i = 0; i < set.n; i++)
			if (!pid || set.vms[i].pid == pid)
				kh_vm_print(&set.vms[i]);
	}
	kh_vms_free(&set);
	return KH_EXIT_OK;
}

int kh_cmd_list(int argc, char **argv, struct kh_opts *o)
{
	uint32_t pid = 0;
	int rc = kh_list_parse(argc, argv, o, &pid);

	return rc >= 0 ? rc : kh_list_main(pid, o);
}
