# Installing and shipping kvmheat (README.md "Installing"): manual pages
# from man/*.scd, `make install` / `make uninstall` with PREFIX and DESTDIR,
# `make deb` (a .deb built with dpkg-deb from the tree), `make static` (one
# self-contained binary).  Included by the Makefile.

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MAN8DIR ?= $(PREFIX)/share/man/man8
DOCDIR ?= $(PREFIX)/share/doc/kvmheat
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
INSTALL ?= install

# scdoc makes the manual pages; man-db renders them in the tests; dpkg-dev
# (dpkg-shlibdeps) computes the package's Depends; lintian checks it.
DEPS += scdoc man-db groff-base dpkg-dev lintian

# One page per man/NAME.8.scd: adding a verb's page is adding one file.
MAN_SRCS := $(sort $(wildcard man/*.scd))
MAN_PAGES := $(patsubst man/%.scd,$(OUTPUT)/man/%,$(MAN_SRCS))
DOC_FILES := $(sort $(wildcard docs/*.md))
COMPLETION := completion/kvmheat

KH_VERSION_STR := $(shell sed -n 's/^\#define KH_VERSION "\(.*\)"/\1/p' src/kh.h)
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB := $(OUTPUT)/kvmheat_$(KH_VERSION_STR)_$(DEB_ARCH).deb

.PHONY: man install uninstall deb static FORCE
FORCE:

all: $(MAN_PAGES)
man: $(MAN_PAGES)

$(OUTPUT)/man:
	$(Q)mkdir -p $@

$(OUTPUT)/man/%: man/%.scd | $(OUTPUT)/man
	$(call msg,SCDOC,$@)
	$(Q)scdoc < $< > $@

# What `kvmheat version` says about the build: regenerated every time, but
# only rewritten (and version.o rebuilt) when its text changes.
$(OUTPUT)/kh_buildinfo.h: FORCE | $(OUTPUT)
	$(Q)./tools/gen-buildinfo.sh $@
$(OUTPUT)/obj/version.o: $(OUTPUT)/kh_buildinfo.h

# The file list is documented in README.md ("Installing"); test_install
# checks a DESTDIR install against it, and that uninstall leaves no file.
install: $(OUTPUT)/kvmheat $(MAN_PAGES)
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MAN8DIR) $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(DOCDIR)/docs
	$(INSTALL) -m 0755 $(OUTPUT)/kvmheat $(DESTDIR)$(SBINDIR)/kvmheat
	$(INSTALL) -m 0644 $(MAN_PAGES) $(DESTDIR)$(MAN8DIR)/
	$(INSTALL) -m 0644 $(COMPLETION) $(DESTDIR)$(BASHCOMPDIR)/kvmheat
	$(INSTALL) -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	$(INSTALL) -m 0644 $(DOC_FILES) $(DESTDIR)$(DOCDIR)/docs/

# Exactly the files install put there; of the directories only kvmheat's
# own doc directory goes (sbin, man8 and completions are shared).
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/kvmheat $(DESTDIR)$(BASHCOMPDIR)/kvmheat \
		$(patsubst man/%.scd,$(DESTDIR)$(MAN8DIR)/%,$(MAN_SRCS)) \
		$(DESTDIR)$(DOCDIR)/README.md $(patsubst docs/%,$(DESTDIR)$(DOCDIR)/docs/%,$(DOC_FILES))
	for d in $(DESTDIR)$(DOCDIR)/docs $(DESTDIR)$(DOCDIR); do \
		[ ! -d $$d ] || rmdir --ignore-fail-on-non-empty $$d; done

# A binary package of what `make install PREFIX=/usr` puts down, plus the
# Debian metadata in debian/ (tools/mkdeb.sh).
deb: $(DEB)
$(DEB): $(OUTPUT)/kvmheat $(MAN_PAGES) $(COMPLETION) README.md $(DOC_FILES) \
		$(wildcard debian/*) tools/mkdeb.sh
	$(call msg,DEB,$@)
	$(Q)rm -rf $(OUTPUT)/deb
	$(Q)$(MAKE) -s --no-print-directory install PREFIX=/usr \
		DESTDIR=$(abspath $(OUTPUT))/deb/debian/kvmheat OUTPUT=$(OUTPUT)
	$(Q)./tools/mkdeb.sh $(OUTPUT)/deb $(KH_VERSION_STR) $(DEB_ARCH) $@

# One static binary (the nested-kernel rig's build): copy it to any x86-64
# host whose kernel has BTF (README.md "A static binary").
static:
	$(MAKE) OUTPUT=build-static STATIC=1 build-static/kvmheat
	@echo "static binary: build-static/kvmheat"
