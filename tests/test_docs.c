// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * No drift between what kvmheat accepts, what `kvmheat VERB --help` says,
 * what the manual pages (man/NAME.8.scd) say and what the bash completion
 * offers.  The verbs come from `kvmheat help`, so a new verb without a page,
 * a completion entry or examples fails here.  An option is compared as
 * short letter, long name and argument name; the parser itself is asked
 * which short letters it knows (see parser_knows()).
 */
#include <ctype.h>
#include <dirent.h>
#include "khrun.h"

#define MAX_VERBS	32
#define MAX_OPTS	64

/* "-p --pid PID", "--events", "-j --json": one option as the docs give it. */
struct optset {
	char *v[MAX_OPTS];
	int n;
};

static void optset_add(struct optset *s, const char *shrt, const char *lng, const char *arg)
{
	char buf[160] = "";

	/* the non-empty parts, one space between */
	for (const char *const *p = (const char *const[]){ shrt, lng, arg, NULL }; *p; p++)
		if (**p)
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s",
				 buf[0] ? " " : "", *p);
	assert_true(s->n < MAX_OPTS);
	s->v[s->n++] = strdup(buf);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void optset_free(struct optset *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->v[i]);
	s->n = 0;
}

/* Equal as sets; every difference printed, naming which side has it. */
static bool optset_same(struct optset *a, const char *an, struct optset *b, const char *bn,
			const char *verb)
{
	bool same = true;

	qsort(a->v, a->n, sizeof(char *), cmp_str);
	qsort(b->v, b->n, sizeof(char *), cmp_str);
	for (int i = 0, j = 0; i < a->n || j < b->n;) {
		int c = i >= a->n ? 1 : j >= b->n ? -1 : strcmp(a->v[i], b->v[j]);

		if (c)
			printf("# %s: '%s' only in %s\n", verb, c < 0 ? a->v[i] : b->v[j],
			       c < 0 ? an : bn);
		same &= !c;
		i += c <= 0;
		j += c >= 0;
	}
	return same;
}

/* A word of @p up to a space or the end of the line, into @buf. */
static const char *word(const char *p, char *buf, size_t len)
{
	size_t n = 0;

	while (*p && *p != ' ' && *p != '\n') {
		if (n + 1 < len)
			buf[n++] = *p;
		p++;
	}
	buf[n] = 0;
	return p;
}

/*
 * The option table of a --help text: "  -p, --pid PID   text" and
 * "      --width N   text" lines, up to "Examples:".  An argument is the
 * word one space after the long name; two spaces start the description.
 */
static void help_opts(const char *help, struct optset *s)
{
	for (const char *l = help; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		char shrt[8] = "", lng[64], arg[64] = "";
		const char *p = l;

		if (!strncmp(l, "Examples:", 9))
			break;
		if (!strncmp(p, "  -", 3) && isalnum((unsigned char)p[3]) &&
		    !strncmp(p + 4, ", --", 4)) {
			snprintf(shrt, sizeof(shrt), "-%c", p[3]);
			p += 6;
		} else if (!strncmp(p, "      --", 8) && islower((unsigned char)p[8])) {
			p += 6;
		} else {
			continue;
		}
		p = word(p, lng, sizeof(lng));
		if (p[0] == ' ' && p[1] && p[1] != ' ' && p[1] != '\n')
			word(p + 1, arg, sizeof(arg));
		optset_add(s, shrt, lng, arg);
	}
}

/* The text of section "# NAME" of an scdoc page, up to the next section. */
static char *section(const char *page, const char *name)
{
	char head[64];
	const char *p, *end;

	snprintf(head, sizeof(head), "\n# %s\n", name);
	p = strstr(page, head);
	if (!p)
		return NULL;
	p += strlen(head);
	end = strstr(p, "\n# ");
	return strndup(p, end ? (size_t)(end - p) : strlen(p));
}

/* OPTIONS items of an scdoc page: "*-p*, *--pid* _PID_" at the start of a line. */
static void man_opts(const char *page, struct optset *s)
{
	char *sec = section(page, "OPTIONS");

	assert_non_null(sec);
	for (char *l = sec; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		char shrt[64] = "", lng[64] = "", arg[64] = "", tok[64];
		const char *p = l;

		if (strncmp(l, "*-", 2))
			continue;
		while (*p && *p != '\n') {
			char *t = tok;

			p = word(p, tok, sizeof(tok));
			while (*p == ' ')
				p++;
			tok[strcspn(tok, ",")] = 0;
			if (t[0] == '*' || t[0] == '_') {
				t[strlen(t) - 1] = 0;
				t++;
			}
			if (tok[0] == '_')
				snprintf(arg, sizeof(arg), "%s", t);
			else if (!strncmp(t, "--", 2))
				snprintf(lng, sizeof(lng), "%s", t);
			else if (t[0] == '-')
				snprintf(shrt, sizeof(shrt), "%s", t);
		}
		optset_add(s, shrt, lng, arg);
	}
	free(sec);
}

/* The verbs `kvmheat help` lists, in its order. */
static int verbs(char *v[MAX_VERBS])
{
	struct kh_run r;
	const char *p;
	int n = 0;

	kh_run_kvmheat(&r, (char *[]){ "help", NULL });
	assert_int_equal(r.rc, 0);
	p = strstr(r.out, "Commands:\n");
	assert_non_null(p);
	for (p = strchr(p, '\n') + 1; !strncmp(p, "  ", 2) && n < MAX_VERBS; p = strchr(p, '\n') + 1) {
		char w[32];

		word(p + 2, w, sizeof(w));
		v[n++] = strdup(w);
	}
	kh_run_free(&r);
	assert_true(n >= 9);
	return n;
}

static void free_verbs(char *v[], int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
}

static char *man_page(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/man/%s.8.scd", kh_src_dir(), name);
	return kh_read_file(path);
}

static char *verb_page(const char *verb)
{
	char name[64];

	snprintf(name, sizeof(name), "kvmheat-%s", verb);
	return man_page(name);
}

static char *verb_help(const char *verb)
{
	struct kh_run r;

	kh_run_kvmheat(&r, (char *[]){ (char *)verb, "--help", NULL });
	assert_int_equal(r.rc, 0);
	free(r.err);
	return r.out;
}

static char *completion_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/completion/kvmheat", kh_src_dir());
	return buf;
}

/* Every verb but help (kvmheat(8) covers it) has a page, and every page a verb. */
static void test_every_verb_has_a_page(void **state)
{
	char *v[MAX_VERBS];
	int n = verbs(v), pages = 0, bad = 0;
	struct dirent *e;
	char dir[512];
	DIR *d;

	for (int i = 0; i < n; i++) {
		char *page = verb_page(v[i]);

		if (!page && strcmp(v[i], "help")) {
			printf("# verb %s has no man/kvmheat-%s.8.scd\n", v[i], v[i]);
			bad++;
		}
		free(page);
	}
	snprintf(dir, sizeof(dir), "%s/man", kh_src_dir());
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d))) {
		char verb[64];
		bool known = false;

		if (sscanf(e->d_name, "kvmheat-%63[^.].8.scd", verb) != 1)
			continue;
		pages++;
		for (int i = 0; i < n; i++)
			known |= !strcmp(v[i], verb);
		if (!known) {
			printf("# man/%s is for no verb of `kvmheat help`\n", e->d_name);
			bad++;
		}
	}
	closedir(d);
	printf("# %d verbs, %d verb pages\n", n, pages);
	free_verbs(v, n);
	assert_int_equal(bad, 0);
}

/* The sections the issue asks of every page, in this order. */
static void test_pages_have_every_section(void **state)
{
	static const char *const secs[] = {
		"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "FILES",
		"EXAMPLES", "SEE ALSO",
	};
	char *v[MAX_VERBS];
	int n = verbs(v), bad = 0;

	for (int i = -1; i < n; i++) {
		char *page = i < 0 ? man_page("kvmheat") : verb_page(v[i]);
		const char *last = page;

		if (!page)
			continue;	/* help: test_every_verb_has_a_page */
		for (size_t k = 0; k < sizeof(secs) / sizeof(secs[0]); k++) {
			char head[64];
			const char *at;

			snprintf(head, sizeof(head), "\n# %s\n", secs[k]);
			at = strstr(page, head);
			if (!at || at < last) {
				printf("# %s: section %s %s\n", i < 0 ? "kvmheat" : v[i], secs[k],
				       at ? "out of order" : "missing");
				bad++;
			}
			last = at ? at : last;
		}
		free(page);
	}
	free_verbs(v, n);
	assert_int_equal(bad, 0);
}

/* `kvmheat VERB --help` and OPTIONS of kvmheat-VERB(8) list the same options. */
static void test_help_matches_man(void **state)
{
	char *v[MAX_VERBS];
	int n = verbs(v), bad = 0;

	for (int i = 0; i < n; i++) {
		struct optset h = {}, m = {};
		char *page = verb_page(v[i]), *help;

		if (!page)
			continue;
		help = verb_help(v[i]);
		help_opts(help, &h);
		man_opts(page, &m);
		printf("# %s: %d options in --help, %d in the page\n", v[i], h.n, m.n);
		bad += !optset_same(&h, "--help", &m, "the man page", v[i]);
		optset_free(&h);
		optset_free(&m);
		free(help);
		free(page);
	}
	free_verbs(v, n);
	assert_int_equal(bad, 0);
}

/*
 * @help ends with 2 or 3 example lines starting with @want ("  kvmheat
 * VERB"), each also a line of @page's EXAMPLES; the number of faults.
 */
static int check_examples(const char *name, const char *help, const char *page,
			  const char *want)
{
	char *sec = section(page, "EXAMPLES");
	const char *ex = strstr(help, "\nExamples:\n");
	int count = 0, bad = 0;

	for (const char *l = ex ? ex + 11 : NULL; l && *l; count++) {
		const char *nl = strchr(l, '\n');
		char cmd[256], line[260];

		if (!nl || strncmp(l, want, strlen(want))) {
			printf("# %s: not an example line at the end of --help: %.60s\n", name, l);
			bad++;
			break;
		}
		snprintf(cmd, sizeof(cmd), "%.*s", (int)(nl - l - 2), l + 2);
		snprintf(line, sizeof(line), "\n\t%s\n", cmd);
		if (!sec || !strstr(sec, line)) {
			printf("# %s: example '%s' is not in the page's EXAMPLES\n", name, cmd);
			bad++;
		}
		l = nl + 1;
	}
	if (count < 2 || count > 3) {
		printf("# %s: %d examples at the end of --help (want 2 or 3)\n", name, count);
		bad++;
	}
	free(sec);
	return bad;
}

/* Every --help ends with examples, kvmheat's own included, and the pages show them. */
static void test_help_ends_with_examples(void **state)
{
	char *v[MAX_VERBS], *page = man_page("kvmheat");
	int n = verbs(v), bad = 0;
	struct kh_run r;

	kh_run_kvmheat(&r, (char *[]){ "--help", NULL });
	assert_int_equal(r.rc, 0);
	bad += check_examples("kvmheat", r.out, page, "  kvmheat ");
	kh_run_free(&r);
	free(page);
	for (int i = 0; i < n; i++) {
		char *help, want[64];

		page = verb_page(v[i]);
		if (!page)
			continue;
		help = verb_help(v[i]);
		snprintf(want, sizeof(want), "  kvmheat %s", v[i]);
		bad += check_examples(v[i], help, page, want);
		free(help);
		free(page);
	}
	free_verbs(v, n);
	assert_int_equal(bad, 0);
}

/* Whether kvmheat's answer to @args says @opt is unknown (stderr, or JSON on stdout). */
static bool says_unknown(char *const args[], const char *opt)
{
	char want[96];
	struct kh_run r;
	bool unknown;

	snprintf(want, sizeof(want), "unknown option or missing value: '%s'", opt);
	kh_run_kvmheat(&r, args);
	unknown = r.rc == 2 && (strstr(r.err, want) || strstr(r.out, want));
	kh_run_free(&r);
	return unknown;
}

/*
 * Which short letters VERB's parser knows, and which take a value, asked of
 * kvmheat itself without ever running the command: "VERB -X -Q -Q" (-Q is
 * known to no verb) fails at -X when X is unknown, else at a -Q: a flag is
 * followed by -Q, a value option eats one -Q and meets the next.  Then
 * "VERB -X1 -Q" fails at "-X1" when X is a flag ("1" is no option) and at
 * -Q (or at a bad value "1") when X takes a value.
 */
static void parser_short_opts(const char *verb, struct optset *s)
{
	static const char letters[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPRSTUVWXYZ0123456789";

	for (const char *c = letters; *c; c++) {
		char o[4] = { '-', *c }, o1[5] = { '-', *c, '1' };

		if (says_unknown((char *[]){ (char *)verb, o, "-Q", "-Q", NULL }, o))
			continue;
		/* -h answers at once: a flag by definition */
		if (*c != 'h' && !says_unknown((char *[]){ (char *)verb, o1, "-Q", NULL }, o1))
			optset_add(s, o, "", "ARG");
		else
			optset_add(s, o, "", "");
	}
}

/* The same question for the long options --help lists: known, and value or flag. */
static int parser_long_check(const char *verb, struct optset *help)
{
	int bad = 0;

	for (int i = 0; i < help->n; i++) {
		char lng[64], eq[70], *sp = strstr(help->v[i], "--");
		bool arg;

		if (!sp)
			continue;
		word(sp, lng, sizeof(lng));
		arg = strchr(sp, ' ') != NULL;
		snprintf(eq, sizeof(eq), "%s=1", lng);
		if (says_unknown((char *[]){ (char *)verb, lng, "-Q", "-Q", NULL }, lng)) {
			printf("# %s: --help lists %s, the parser does not know it\n", verb, lng);
			bad++;
		} else if (arg == says_unknown((char *[]){ (char *)verb, eq, "-Q", NULL }, eq)) {
			printf("# %s: %s %s a value in --help but not in the parser\n", verb, lng,
			       arg ? "takes" : "takes no");
			bad++;
		}
	}
	return bad;
}

/* The short form of each option of @help: "-p ARG" or "-b". */
static void short_forms(struct optset *help, struct optset *out)
{
	for (int i = 0; i < help->n; i++) {
		const char *o = help->v[i];

		if (o[0] != '-' || o[1] == '-')
			continue;
		optset_add(out, (char[]){ o[0], o[1], 0 }, "", strchr(o + 3, ' ') ? "ARG" : "");
	}
}

static void test_parser_matches_help(void **state)
{
	char *v[MAX_VERBS];
	int n = verbs(v), bad = 0;

	char unchecked[256] = "";

	for (int i = 0; i < n; i++) {
		struct optset h = {}, want = {}, got = {};
		char *help;

		if (!strcmp(v[i], "help"))
			continue;	/* takes no options and ignores any */
		/* the probe letter must be unknown everywhere, or the method says nothing;
		 * without root the BPF verbs stop at the privilege check first */
		if (!says_unknown((char *[]){ v[i], "-Q", NULL }, "-Q") && !kh_is_root()) {
			snprintf(unchecked + strlen(unchecked), sizeof(unchecked) - strlen(unchecked),
				 " %s", v[i]);
			continue;
		}
		assert_true(says_unknown((char *[]){ v[i], "-Q", NULL }, "-Q"));
		help = verb_help(v[i]);
		help_opts(help, &h);
		short_forms(&h, &want);
		/* -h and -v: every verb's, documented once in kvmheat(8) */
		optset_add(&want, "-h", "", "");
		optset_add(&want, "-v", "", "");
		parser_short_opts(v[i], &got);
		printf("# %s: the parser knows %d short options\n", v[i], got.n);
		bad += !optset_same(&want, "--help", &got, "the parser", v[i]);
		bad += parser_long_check(v[i], &h);
		optset_free(&h);
		optset_free(&want);
		optset_free(&got);
		free(help);
	}
	free_verbs(v, n);
	assert_int_equal(bad, 0);
	if (unchecked[0])
		KH_SKIP("the others passed; these check privileges before parsing (needs root):%s",
			unchecked);
}

/* Every word to complete of --help's options: "-p --pid PID" gives -p and --pid. */
static void help_words(struct optset *h, struct optset *out)
{
	for (int k = 0; k < h->n; k++) {
		char a[64], b[64] = "";

		if (sscanf(h->v[k], "%63s %63s", a, b) >= 1)
			optset_add(out, a, "", "");
		if (b[0] == '-')
			optset_add(out, b, "", "");
	}
}

/*
 * After an option that takes a value the completion offers values (or
 * nothing), never options; after a flag, options again.  Per --help's word.
 */
static int completion_values(const char *script, const char *verb, struct optset *h)
{
	struct optset words = {};
	int bad = 0;

	help_words(h, &words);
	for (int k = 0; k < words.n; k++) {
		const char *o = words.v[k];
		bool arg = false, opts;
		char *got;

		/* the option's entry in --help: "-p --pid PID" has a third word */
		for (int i = 0; i < h->n; i++) {
			char a[64] = "", b[64] = "", c[64] = "";
			int nw = sscanf(h->v[i], "%63s %63s %63s", a, b, c);

			if (!strcmp(a, o) || !strcmp(b, o))
				arg = nw == 3 || (nw == 2 && b[0] != '-');
		}
		got = kh_complete(script, 3, (char *[]){ "kvmheat", (char *)verb, (char *)o, "",
							  NULL });
		opts = kh_has_line(got, "--help");
		if (opts == arg) {
			printf("# %s %s: the completion %s\n", verb, o, arg ?
			       "offers options where --help says a value comes" :
			       "offers no options after a flag");
			bad++;
		}
		free(got);
	}
	optset_free(&words);
	return bad;
}

/* The completion offers the verbs, and after VERB its --help options and -h/-v. */
static void test_completion_matches_help(void **state)
{
	char *v[MAX_VERBS], script[512], *verbs_offered;
	int n = verbs(v), bad = 0;

	completion_path(script, sizeof(script));
	verbs_offered = kh_complete(script, 1, (char *[]){ "kvmheat", "", NULL });
	for (int i = 0; i < n; i++) {
		struct optset h = {}, want = {}, got = {};
		char *help, *offered, *save = NULL;
		bool is_help = !strcmp(v[i], "help");

		if (!kh_has_line(verbs_offered, v[i])) {
			printf("# the completion does not offer the verb %s\n", v[i]);
			bad++;
		}
		help = is_help ? strdup("") : verb_help(v[i]);
		help_opts(help, &h);
		help_words(&h, &want);
		/* help takes no options; the others all take -h and -v (kvmheat(8)) */
		if (!is_help)
			for (const char *const *o = (const char *const[]){ "-h", "--help", "-v",
									"--verbose", NULL }; *o; o++)
				optset_add(&want, *o, "", "");
		offered = kh_complete(script, 2, (char *[]){ "kvmheat", v[i], "-", NULL });
		for (char *w = strtok_r(offered, "\n", &save); w; w = strtok_r(NULL, "\n", &save))
			optset_add(&got, w, "", "");
		bad += !optset_same(&want, "--help", &got, "the completion", v[i]);
		bad += completion_values(script, v[i], &h);
		optset_free(&h);
		optset_free(&want);
		optset_free(&got);
		free(offered);
		free(help);
	}
	free(verbs_offered);
	free_verbs(v, n);
	assert_int_equal(bad, 0);
}

/* kvmheat(8): its COMMANDS are the verbs, its SEE ALSO names every verb's
 * page, and each of its OPTIONS works before a command. */
static void test_main_page(void **state)
{
	char *v[MAX_VERBS], *page = man_page("kvmheat"), *cmds, *see;
	struct optset m = {};
	int n = verbs(v), bad = 0;

	assert_non_null(page);
	cmds = section(page, "COMMANDS");
	see = section(page, "SEE ALSO");
	assert_true(cmds && see);
	for (int i = 0; i < n; i++) {
		char item[64], ref[64], *vp = verb_page(v[i]);

		snprintf(item, sizeof(item), "\n*%s*\n\t", v[i]);
		snprintf(ref, sizeof(ref), "*kvmheat-%s*(8)", v[i]);
		if (!strstr(cmds, item)) {
			printf("# kvmheat(8) COMMANDS lacks %s\n", v[i]);
			bad++;
		}
		if (vp && !strstr(see, ref)) {
			printf("# kvmheat(8) SEE ALSO lacks kvmheat-%s(8)\n", v[i]);
			bad++;
		}
		free(vp);
	}
	man_opts(page, &m);
	assert_int_equal(m.n, 4);
	for (int i = 0; i < m.n; i++) {
		char a[16], b[32];
		struct kh_run r;

		assert_int_equal(sscanf(m.v[i], "%15s %31s", a, b), 2);
		for (char *o = a; o; o = o == a ? b : NULL) {
			kh_run_kvmheat(&r, (char *[]){ o, "version", NULL });
			if (r.rc) {
				printf("# kvmheat %s version -> %d: %s", o, r.rc, r.err);
				bad++;
			}
			kh_run_free(&r);
		}
	}
	optset_free(&m);
	free(cmds);
	free(see);
	free(page);
	free_verbs(v, n);
	assert_int_equal(bad, 0);
}

/* man-db renders every built page without a warning, with its sections. */
static void test_pages_render(void **state)
{
	char dir[512];
	struct dirent *e;
	int pages = 0, bad = 0;
	struct kh_run r;
	DIR *d;

	kh_runv(&r, NULL, (char *[]){ "man", "--version", NULL });
	kh_run_free(&r);
	if (r.rc)
		KH_SKIP("man-db is not installed (make deps installs it)");
	snprintf(dir, sizeof(dir), "%s/man", kh_build_dir());
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d))) {
		char path[1024];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		kh_runv(&r, (char *[]){ "MANWIDTH=80", "LC_ALL=C.UTF-8", NULL },
			(char *[]){ "man", "--warnings", "-E", "UTF-8", "-l", path, NULL });
		if (r.rc || r.err[0] || !strstr(r.out, "SYNOPSIS") ||
		    !strstr(r.out, "EXIT STATUS") || !strstr(r.out, "EXAMPLES") ||
		    !strstr(r.out, "SEE ALSO")) {
			printf("# man -l %s -> %d: %s\n", path, r.rc, r.err);
			bad++;
		}
		pages++;
		kh_run_free(&r);
	}
	closedir(d);
	printf("# %d pages rendered\n", pages);
	assert_true(pages >= 10);
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_verb_has_a_page),
		cmocka_unit_test(test_pages_have_every_section),
		cmocka_unit_test(test_help_matches_man),
		cmocka_unit_test(test_help_ends_with_examples),
		cmocka_unit_test(test_parser_matches_help),
		cmocka_unit_test(test_completion_matches_help),
		cmocka_unit_test(test_main_page),
		cmocka_unit_test(test_pages_render),
	};

	return cmocka_run_group_tests_name("docs: --help, man pages, completion", tests, NULL,
					   NULL);
}
