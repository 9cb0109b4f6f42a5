/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * VM names and identity: what operators call a VM (libvirt's domain name,
 * QEMU's -name) and its uuid, learned from libvirt's run-state files or the
 * VMM's command line.  Everything here is untrusted input: bounded, parsed
 * defensively and sanitised before it reaches any output.
 */
#ifndef KH_VMNAME_H
#define KH_VMNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest name kept, in bytes (libvirt allows more; longer is truncated). */
#define KH_NAME_MAX	64
#define KH_UUID_LEN	36	/* 8-4-4-4-12 hex digits */
/* Where libvirt's QEMU driver keeps its run-state; KH_LIBVIRT_DIR overrides (tests). */
#define KH_LIBVIRT_RUN	"/run/libvirt/qemu"

enum kh_name_src {
	KH_NAME_NONE = 0,
	KH_NAME_COMM,		/* the process's comm: no better name known */
	KH_NAME_CMDLINE,	/* QEMU's -name / -uuid on /proc/PID/cmdline */
	KH_NAME_LIBVIRT,	/* libvirt's NAME.xml / NAME.pid */
};

struct kh_vm_ident {
	char name[KH_NAME_MAX + 1];	/* sanitised: printable, valid UTF-8 */
	char uuid[KH_UUID_LEN + 1];	/* "" when unknown; lower-case when known */
	uint8_t source;			/* enum kh_name_src */
};

const char *kh_name_source_str(int src);
/* Copy @len bytes of @src into @dst (@dstlen with its NUL): control bytes
 * and invalid UTF-8 become '?', the result is cut at a character boundary. */
void kh_name_sanitize(char *dst, size_t dstlen, const char *src, size_t len);
/* A canonical uuid in @out (lower case), or -EINVAL. */
int kh_uuid_parse(const char *s, size_t len, char out[KH_UUID_LEN + 1]);
/* QEMU's argv (NUL-separated, as in /proc/PID/cmdline): -name and -uuid.
 * 0 when a name was found (the uuid may still be ""), -ENOENT if none. */
int kh_ident_from_cmdline(const char *buf, size_t len, struct kh_vm_ident *id);
/* libvirt's domain status XML: <domstatus><domain><name>/<uuid>, or a bare <domain>. */
int kh_ident_from_libvirt_xml(const char *buf, size_t len, struct kh_vm_ident *id);
/* The domain in @dir whose NAME.pid holds @pid; -ENOENT if none. */
int kh_ident_from_libvirt(const char *dir, uint32_t pid, struct kh_vm_ident *id);
/* libvirt, else the command line, else @comm: never fails. */
void kh_ident_learn(uint32_t pid, const char *comm, struct kh_vm_ident *id);

/* One CSV field (RFC 4180 quoting when needed). */
#include <stdio.h>
void kh_csv_field(FILE *f, const char *s);

/* The resolver's rule, over any list of VMs: @name is a VM's name or uuid. */
struct kh_named {
	uint32_t pid;
	const struct kh_vm_ident *id;
};
int kh_pick_by_name(const struct kh_named *v, size_t n, const char *name, uint32_t *pid,
		    char *why, size_t whylen);
/* Could @arg be a VM name: not empty, not a number, no control bytes, bounded. */
bool kh_name_arg_ok(const char *arg);

#endif /* KH_VMNAME_H */
