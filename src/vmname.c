// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * VM names (vmname.h).  Sources, best first:
 *  1. libvirt: /run/libvirt/qemu/NAME.pid holds the QEMU pid, NAME.xml the
 *     domain status (<domstatus><domain><name>, <uuid>), parsed with expat;
 *  2. QEMU's command line: -name [guest=]NAME[,...] with ',,' standing for
 *     a literal comma (QEMU's option syntax, qemu-options.hx "-name"), and
 *     -uuid;
 *  3. the comm.
 * Any VMM or user can put anything in these, so every byte is checked.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <expat.h>
#include "base.h"
#include "vmname.h"

/* Bounds on what is read: a command line, a status XML, a pid file. */
#define KH_CMDLINE_MAX	(64 * 1024)
#define KH_XML_MAX	(1024 * 1024)
#define KH_PIDFILE_MAX	32

const char *kh_name_source_str(int src)
{
	switch (src) {
	case KH_NAME_COMM:
		return "comm";
	case KH_NAME_CMDLINE:
		return "cmdline";
	case KH_NAME_LIBVIRT:
		return "libvirt";
	default:
		return "none";
	}
}

/* Length of the valid UTF-8 sequence at @s (at most @n bytes), 0 if invalid. */
static size_t kh_utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and beyond U+10FFFF are not characters */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void kh_name_sanitize(char *dst, size_t dstlen, const char *src, size_t len)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0, i = 0;

	if (!dstlen)
		return;
	while (i < len && s[i]) {
		size_t n = kh_utf8_len(s + i, len - i);

		/* C0, DEL and C1 (U+0080..U+009F, "\xc2\x80".."\xc2\x9f") are controls */
		if (!n || s[i] < 0x20 || s[i] == 0x7f || (n == 2 && s[i] == 0xc2 && s[i + 1] < 0xa0)) {
			if (o + 1 >= dstlen)
				break;
			dst[o++] = '?';
			i += n ? n : 1;
			continue;
		}
		if (o + n >= dstlen)
			break;	/* never split a character */
		memcpy(dst + o, s + i, n);
		o += n;
		i += n;
	}
	dst[o] = 0;
}

int kh_uuid_parse(const char *s, size_t len, char out[KH_UUID_LEN + 1])
{
	static const int dash[] = { 8, 13, 18, 23 };
	size_t d = 0;

	if (len != KH_UUID_LEN)
		return -EINVAL;
	for (size_t i = 0; i < KH_UUID_LEN; i++) {
		if (d < 4 && (int)i == dash[d]) {
			if (s[i] != '-')
				return -EINVAL;
			out[i] = '-';
			d++;
			continue;
		}
		if (!isxdigit((unsigned char)s[i]))
			return -EINVAL;
		out[i] = tolower((unsigned char)s[i]);
	}
	out[KH_UUID_LEN] = 0;
	return 0;
}

/*
 * One value of QEMU's option syntax at @p: up to a ',' that is not ',,',
 * with ',,' read as ','.  Written sanitised into @out; returns the position
 * after the value (at the separating ',' or the end).
 */
static const char *kh_qemu_value(const char *p, const char *end, char *out, size_t outlen)
{
	char raw[KH_NAME_MAX * 4 + 1];
	size_t n = 0;

	while (p < end && *p) {
		if (*p == ',') {
			if (p + 1 < end && p[1] == ',') {
				p++;	/* escaped comma: keep one */
			} else {
				break;
			}
		}
		if (n < sizeof(raw) - 1)
			raw[n++] = *p;
		p++;
	}
	if (out)
		kh_name_sanitize(out, outlen, raw, n);
	return p;
}

/* -name's argument: "NAME[,k=v...]" (guest is the implied first key) or "guest=NAME,...". */
static int kh_qemu_name_arg(const char *p, const char *end, char *name, size_t namelen)
{
	bool found = false, first = true;

	while (p < end && *p) {
		const char *eq = p;

		while (eq < end && *eq && *eq != '=' && *eq != ',')
			eq++;
		if (eq < end && *eq == '=') {
			bool guest = eq - p == 5 && !strncmp(p, "guest", 5);

			p = kh_qemu_value(eq + 1, end, guest ? name : NULL, namelen);
			found |= guest;
		} else if (first) {
			p = kh_qemu_value(p, end, name, namelen);
			found = true;
		} else {
			p = eq;	/* a flag such as "debug-threads": no value */
		}
		first = false;
		if (p < end && *p == ',')
			p++;
	}
	return found && name[0] ? 0 : -ENOENT;
}

int kh_ident_from_cmdline(const char *buf, size_t len, struct kh_vm_ident *id)
{
	const char *end = buf + len, *arg = buf;
	char name[KH_NAME_MAX + 1] = "", uuid[KH_UUID_LEN + 1] = "";
	bool have = false;

	while (arg < end) {
		const char *next = memchr(arg, 0, end - arg);
		const char *val;

		next = next ? next + 1 : end;
		/* QEMU takes both -opt and --opt */
		if (next < end && (!strcmp(arg, "-name") || !strcmp(arg, "--name"))) {
			char tmp[KH_NAME_MAX + 1] = "";
			const char *vend = memchr(next, 0, end - next);

			if (!kh_qemu_name_arg(next, vend ? vend : end, tmp, sizeof(tmp))) {
				memcpy(name, tmp, sizeof(name));	/* the last -name wins */
				have = true;
			}
		} else if (next < end && (!strcmp(arg, "-uuid") || !strcmp(arg, "--uuid"))) {
			val = memchr(next, 0, end - next);
			if (kh_uuid_parse(next, (val ? val : end) - next, uuid))
				uuid[0] = 0;
		}
		arg = next;
	}
	if (!have)
		return -ENOENT;
	memcpy(id->name, name, sizeof(id->name));
	memcpy(id->uuid, uuid, sizeof(id->uuid));
	id->source = KH_NAME_CMDLINE;
	return 0;
}

/* ---- libvirt ---- */

/* Text of <domain><name> and <domain><uuid>, directly or under <domstatus>. */
struct kh_xml_state {
	int depth, in_domain;		/* depth of the <domain> element, 0: outside */
	int field;			/* 1: in name, 2: in uuid */
	char name[KH_NAME_MAX * 4 + 1], uuid[64];
	size_t nlen, ulen;
	bool got_name, got_uuid;
};

static void XMLCALL kh_xml_start(void *ud, const XML_Char *el, const XML_Char **attr)
{
	struct kh_xml_state *x = ud;

	x->depth++;
	if (!x->in_domain && !strcmp(el, "domain") && x->depth <= 2)
		x->in_domain = x->depth;
	else if (x->in_domain && x->depth == x->in_domain + 1 && !x->field) {
		if (!strcmp(el, "name") && !x->got_name)
			x->field = 1;
		else if (!strcmp(el, "uuid") && !x->got_uuid)
			x->field = 2;
	}
}

static void XMLCALL kh_xml_end(void *ud, const XML_Char *el)
{
	struct kh_xml_state *x = ud;

	if (x->field && x->depth == x->in_domain + 1) {
		x->got_name |= x->field == 1;
		x->got_uuid |= x->field == 2;
		x->field = 0;
	}
	if (x->in_domain == x->depth)
		x->in_domain = -1;	/* only the first domain counts */
	x->depth--;
}

static void XMLCALL kh_xml_text(void *ud, const XML_Char *s, int len)
{
	struct kh_xml_state *x = ud;
	char *buf = x->field == 1 ? x->name : x->uuid;
	size_t cap = x->field == 1 ? sizeof(x->name) : sizeof(x->uuid), *n;

	if (!x->field || len <= 0)
		return;
	n = x->field == 1 ? &x->nlen : &x->ulen;
	if ((size_t)len > cap - 1 - *n)
		len = cap - 1 - *n;
	memcpy(buf + *n, s, len);
	*n += len;
}

int kh_ident_from_libvirt_xml(const char *buf, size_t len, struct kh_vm_ident *id)
{
	struct kh_xml_state x = {};
	XML_Parser p;
	const char *u;
	size_t ul;
	int ok;

	if (len > KH_XML_MAX)
		return -EFBIG;
	p = XML_ParserCreate(NULL);
	if (!p)
		return -ENOMEM;
	XML_SetUserData(p, &x);
	XML_SetElementHandler(p, kh_xml_start, kh_xml_end);
	XML_SetCharacterDataHandler(p, kh_xml_text);
	ok = XML_Parse(p, buf, (int)len, 1) == XML_STATUS_OK;
	XML_ParserFree(p);
	if (!ok || !x.got_name)
		return -EBADMSG;
	kh_name_sanitize(id->name, sizeof(id->name), x.name, x.nlen);
	if (!id->name[0])
		return -EBADMSG;
	/* libvirt writes the uuid with surrounding whitespace only if hand-edited */
	u = x.uuid;
	ul = x.ulen;
	while (ul && isspace((unsigned char)*u))
		u++, ul--;
	while (ul && isspace((unsigned char)u[ul - 1]))
		ul--;
	if (kh_uuid_parse(u, ul, id->uuid))
		id->uuid[0] = 0;
	id->source = KH_NAME_LIBVIRT;
	return 0;
}

/* Up to @max bytes of @path (NUL-terminated, *len without it); NULL on error. */
static char *kh_read_bounded(int dirfd, const char *path, size_t max, size_t *len)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	char *buf;
	ssize_t n;

	if (fd < 0)
		return NULL;
	buf = malloc(max + 1);
	*len = 0;
	while (buf && *len < max) {
		n = read(fd, buf + *len, max - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		*len += n;
	}
	close(fd);
	if (buf)
		buf[*len] = 0;
	return buf;
}

int kh_ident_from_libvirt(const char *dir, uint32_t pid, struct kh_vm_ident *id)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int err = -ENOENT;

	if (!d)
		return -errno;
	while (err == -ENOENT && (e = readdir(d))) {
		size_t nl = strlen(e->d_name), len;
		char *buf, xml[300];
		uint64_t v;

		if (nl < 5 || nl > 255 || strcmp(e->d_name + nl - 4, ".pid"))
			continue;
		buf = kh_read_bounded(dirfd(d), e->d_name, KH_PIDFILE_MAX, &len);
		if (!buf)
			continue;
		while (len && isspace((unsigned char)buf[len - 1]))
			buf[--len] = 0;
		if (kh_parse_u64(buf, &v) || v != pid) {
			free(buf);
			continue;
		}
		free(buf);
		snprintf(xml, sizeof(xml), "%.*s.xml", (int)(nl - 4), e->d_name);
		buf = kh_read_bounded(dirfd(d), xml, KH_XML_MAX, &len);
		if (!buf || kh_ident_from_libvirt_xml(buf, len, id)) {
			/* no usable status file: the pid file's name is libvirt's domain name */
			kh_name_sanitize(id->name, sizeof(id->name), e->d_name, nl - 4);
			id->uuid[0] = 0;
			id->source = KH_NAME_LIBVIRT;
		}
		free(buf);
		err = 0;
	}
	closedir(d);
	return err;
}

void kh_ident_learn(uint32_t pid, const char *comm, struct kh_vm_ident *id)
{
	const char *dir = getenv("KH_LIBVIRT_DIR");
	char path[64], *buf;
	size_t len;

	memset(id, 0, sizeof(*id));
	if (!kh_ident_from_libvirt(dir && *dir ? dir : KH_LIBVIRT_RUN, pid, id))
		return;
	snprintf(path, sizeof(path), "/proc/%u/cmdline", pid);
	buf = kh_read_bounded(AT_FDCWD, path, KH_CMDLINE_MAX, &len);
	if (buf && !kh_ident_from_cmdline(buf, len, id)) {
		free(buf);
		return;
	}
	free(buf);
	kh_name_sanitize(id->name, sizeof(id->name), comm, strlen(comm));
	id->uuid[0] = 0;
	id->source = KH_NAME_COMM;
}

/* ---- resolving -p ---- */

int kh_pick_by_name(const struct kh_named *v, size_t n, const char *name, uint32_t *pid,
		    char *why, size_t whylen)
{
	size_t hits = 0, o;

	for (size_t i = 0; i < n; i++) {
		bool same = !strcmp(v[i].id->name, name) ||
			    (v[i].id->uuid[0] && !strcasecmp(v[i].id->uuid, name));

		/* one VMM with two VMs is still one pid */
		if (same && (!hits || v[i].pid != *pid)) {
			hits++;
			*pid = v[i].pid;
		}
	}
	if (hits == 1)
		return 0;
	if (!hits) {
		snprintf(why, whylen, "no VM is named '%.64s'", name);
		return -ENOENT;
	}
	o = snprintf(why, whylen, "%zu VMs are named '%.64s' (pids", hits, name);
	for (size_t i = 0; i < n && o < whylen; i++)
		if (!strcmp(v[i].id->name, name) || !strcasecmp(v[i].id->uuid, name))
			o += snprintf(why + o, whylen - o, " %u", v[i].pid);
	if (o < whylen)
		snprintf(why + o, whylen - o, "): give the pid");
	return -EEXIST;
}

bool kh_name_arg_ok(const char *arg)
{
	size_t n = strlen(arg), digits = strspn(arg, "0123456789");

	if (!n || n > KH_NAME_MAX || digits == n || (arg[0] == '0' && arg[1] == 'x'))
		return false;	/* empty, too long, or a number that is no pid */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)arg[i] < 0x20 || arg[i] == 0x7f)
			return false;
	return true;
}

/* RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. */
void kh_csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}
