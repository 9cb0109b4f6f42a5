// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The userspace library's layering (src/kh.h), checked on what the compiler
 * built rather than on what the comments say:
 *  - call graph: every kh_* symbol an object file uses, defined in another
 *    src/ object, must come from a lower layer (or its own, without a circle
 *    between files), and no library file may use one defined in a command
 *    file; read with nm from $KH_BUILD/obj;
 *  - include graph: a src/ file includes only headers of its layer or below.
 * A new src/ file must be given a layer in kh_layers[] below.
 */
#include "khtest.h"
#include <dirent.h>

#define KH_CMD_LAYER	10
#define KH_UMBRELLA	9	/* kh.h: for commands, tests and tools only */

/* Layer of each src/ file (by base name); commands are KH_CMD_LAYER. */
static const struct { const char *name; int layer; } kh_layers[] = {
	{ "util", 0 }, { "parse", 0 }, { "names", 0 }, { "counts", 0 }, { "base", 0 },
	{ "probe", 1 }, { "vmname", 1 }, { "coarse", 1 }, { "idle", 3 }, { "agedrv", 3 }, { "vms", 2 }, { "session", 3 }, { "maps", 4 }, { "scan", 4 }, { "datafile", 5 },
	{ "canvas", 5 }, { "view", 6 }, { "hmap", 7 }, { "draw", 7 }, { "chart", 7 },
	{ "report", 8 }, { "report_html", 8 }, { "export", 8 }, { "kh", KH_UMBRELLA },
	{ "cli", KH_CMD_LAYER }, { "main", KH_CMD_LAYER },
};

#define KH_MAX_OBJS	64
#define KH_MAX_SYMS	4096

struct kh_obj {
	char name[64];
	int layer;
	char **defs, **undefs;
	size_t ndefs, nundefs;
};

static int kh_layer_of(const char *name)
{
	if (!strncmp(name, "cmd_", 4))
		return KH_CMD_LAYER;
	for (size_t i = 0; i < sizeof(kh_layers) / sizeof(kh_layers[0]); i++)
		if (!strcmp(kh_layers[i].name, name))
			return kh_layers[i].layer;
	return -1;
}

/* nm's global defined (T/D/B/R) and undefined (U) kh_* symbols of one object. */
static void kh_read_syms(const char *path, struct kh_obj *o)
{
	char cmd[1100], line[512], sym[256], type;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "nm '%s' 2>/dev/null", path);
	f = popen(cmd, "r");
	assert_non_null(f);
	o->defs = calloc(KH_MAX_SYMS, sizeof(char *));
	o->undefs = calloc(KH_MAX_SYMS, sizeof(char *));
	while (fgets(line, sizeof(line), f)) {
		char *p = line;

		if (line[0] == ' ' && sscanf(line, " %c %255s", &type, sym) == 2)
			;
		else if (sscanf(p, "%*s %c %255s", &type, sym) != 2)
			continue;
		if (strncmp(sym, "kh_", 3))
			continue;
		if (type == 'U' && o->nundefs < KH_MAX_SYMS)
			o->undefs[o->nundefs++] = strdup(sym);
		else if (strchr("TDBR", type) && o->ndefs < KH_MAX_SYMS)
			o->defs[o->ndefs++] = strdup(sym);
	}
	pclose(f);
}

static size_t kh_load_objs(struct kh_obj *objs)
{
	char dir[512], path[1024];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/obj", kh_build_dir());
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d)) && n < KH_MAX_OBJS) {
		size_t len = strlen(de->d_name);

		if (len < 3 || strcmp(de->d_name + len - 2, ".o"))
			continue;
		snprintf(objs[n].name, sizeof(objs[n].name), "%.*s", (int)(len - 2), de->d_name);
		/* an object left from a source since removed or renamed is not the tree */
		snprintf(path, sizeof(path), "%s/src/%s.c",
			 getenv("KH_SRCDIR") ? getenv("KH_SRCDIR") : ".", objs[n].name);
		if (access(path, F_OK))
			continue;
		objs[n].layer = kh_layer_of(objs[n].name);
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		kh_read_syms(path, &objs[n]);
		n++;
	}
	closedir(d);
	return n;
}

static int kh_definer(const struct kh_obj *objs, size_t n, const char *sym)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < objs[i].ndefs; j++)
			if (!strcmp(objs[i].defs[j], sym))
				return (int)i;
	return -1;
}

/* Depth-first search for a cycle in the file graph @edge. */
static bool kh_cycle_from(const struct kh_obj *objs, bool edge[][KH_MAX_OBJS], size_t n,
			  size_t v, int *state)
{
	state[v] = 1;
	for (size_t w = 0; w < n; w++) {
		if (!edge[v][w])
			continue;
		if (state[w] == 1 || (!state[w] && kh_cycle_from(objs, edge, n, w, state))) {
			printf("# file cycle through %s -> %s\n", objs[v].name, objs[w].name);
			return true;
		}
	}
	state[v] = 2;
	return false;
}

static void test_call_graph_follows_layers(void **state)
{
	static struct kh_obj objs[KH_MAX_OBJS];
	static bool edge[KH_MAX_OBJS][KH_MAX_OBJS];
	int st[KH_MAX_OBJS] = {}, bad = 0;
	size_t n = kh_load_objs(objs);

	if (!n)
		KH_SKIP("no objects in %s/obj: build first (make)", kh_build_dir());
	for (size_t i = 0; i < n; i++) {
		if (objs[i].layer < 0) {
			printf("# src/%s.c has no layer: add it to kh_layers[] (tests/test_layers.c) "
			       "and to the order in src/kh.h\n", objs[i].name);
			bad++;
			continue;
		}
		for (size_t u = 0; u < objs[i].nundefs; u++) {
			int d = kh_definer(objs, n, objs[i].undefs[u]);

			if (d < 0 || (size_t)d == i)
				continue;	/* libbpf's, or a test's */
			edge[i][d] = true;
			if (objs[d].layer > objs[i].layer ||
			    (objs[d].layer == KH_CMD_LAYER && objs[i].layer < KH_CMD_LAYER)) {
				printf("# %s (layer %d) calls %s from %s (layer %d)\n", objs[i].name,
				       objs[i].layer, objs[i].undefs[u], objs[d].name, objs[d].layer);
				bad++;
			}
		}
	}
	for (size_t v = 0; v < n; v++)
		if (!st[v] && objs[v].layer < KH_CMD_LAYER && kh_cycle_from(objs, edge, n, v, st))
			bad++;
	printf("# %zu objects checked\n", n);
	assert_true(n >= 10);
	assert_int_equal(bad, 0);
}

/* Layer of a header by its base name; -1 for headers outside the library's. */
static int kh_header_layer(const char *h)
{
	char base[64];
	size_t len = strlen(h);

	if (len < 3 || strcmp(h + len - 2, ".h") || strstr(h, ".skel.h") ||
	    !strcmp(h, "kvmheat.h"))
		return -1;	/* the ABI header and skeletons: anyone may */
	snprintf(base, sizeof(base), "%.*s", (int)(len - 2), h);
	return kh_layer_of(base);
}

static int kh_check_includes(const char *dir, const char *file)
{
	char path[1024], line[512], hdr[128], base[64];
	int layer, bad = 0;
	size_t len = strlen(file);
	FILE *f;

	snprintf(base, sizeof(base), "%.*s", (int)(len - 2), file);
	layer = kh_layer_of(base);
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	if (!f || layer < 0)
		return f ? (fclose(f), 0) : 0;	/* a missing layer is the call-graph test's */
	while (fgets(line, sizeof(line), f)) {
		int hl;

		if (sscanf(line, "#include \"%127[^\"]\"", hdr) != 1)
			continue;
		hl = kh_header_layer(hdr);
		/* a library file includes its own header or lower ones, never kh.h or cli.h */
		if (hl > layer || (layer < KH_UMBRELLA && hl == KH_UMBRELLA)) {
			printf("# src/%s (layer %d) includes %s (layer %d)\n", file, layer, hdr, hl);
			bad++;
		}
	}
	fclose(f);
	return bad;
}

static void test_includes_follow_layers(void **state)
{
	const char *dir = getenv("KH_SRCDIR") ? getenv("KH_SRCDIR") : ".";
	char src[512];
	struct dirent *de;
	int bad = 0, n = 0;
	DIR *d;

	snprintf(src, sizeof(src), "%s/src", dir);
	d = opendir(src);
	if (!d)
		KH_SKIP("no %s: run from the repository root", src);
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (len > 2 && (!strcmp(de->d_name + len - 2, ".c") ||
				!strcmp(de->d_name + len - 2, ".h"))) {
			bad += kh_check_includes(src, de->d_name);
			n++;
		}
	}
	closedir(d);
	printf("# %d files checked\n", n);
	assert_true(n >= 10);
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_call_graph_follows_layers),
		cmocka_unit_test(test_includes_follow_layers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
