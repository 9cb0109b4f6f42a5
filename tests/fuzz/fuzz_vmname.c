// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: the VM-name parsers, which read what any process put on
 * its command line and what libvirt (or whoever can write its run directory)
 * put in a status XML.  The first byte picks the parser; the rest is its
 * input, not NUL-terminated.  Every name that comes out must be bounded,
 * valid UTF-8 without control characters, and every uuid canonical.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kh.h"

static void kh_check_ident(const struct kh_vm_ident *id)
{
	size_t n = strnlen(id->name, sizeof(id->name));
	char again[KH_NAME_MAX + 1];

	if (n > KH_NAME_MAX || strnlen(id->uuid, sizeof(id->uuid)) > KH_UUID_LEN)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id->name[i] < 0x20 || id->name[i] == 0x7f)
			abort();
	/* sanitising is idempotent: what came out is already clean */
	kh_name_sanitize(again, sizeof(again), id->name, n);
	if (strcmp(again, id->name))
		abort();
	if (id->uuid[0] && kh_uuid_parse(id->uuid, strlen(id->uuid), again))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kh_vm_ident id = {};
	char *copy;

	if (!size)
		return 0;
	/* a copy of exactly the input: ASan sees any read past its end */
	copy = malloc(size - 1 ? size - 1 : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		if (!kh_ident_from_cmdline(copy, size - 1, &id))
			kh_check_ident(&id);
		break;
	case 1:
		if (!kh_ident_from_libvirt_xml(copy, size - 1, &id))
			kh_check_ident(&id);
		break;
	case 2:
		kh_name_sanitize(id.name, sizeof(id.name), copy, size - 1);
		kh_check_ident(&id);
		break;
	}
	free(copy);
	return 0;
}
