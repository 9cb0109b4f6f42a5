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

KH_VERSION_STR := $(shell sed -n 's/^\#define KH_VERSION "\(.*\)"/\1/p' src/base.h)
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB := $(OUTPUT)/kvmheat_$(KH_VERSION_STR)_$(DEB_ARCH).deb
DEB_ROOT := $(OUTPUT)/deb/debian/kvmheat

.PHONY: man install uninstall deb static FORCE
FORCE:

all: $(MAN_PAGES)
man: $(MAN_PAGES)

$(OUTPUT)/man:
	$(Q)mkdir -p $@

# Dated by the page's last commit (else its file time), not by the build.
$(OUTPUT)/man/%: man/%.scd | $(OUTPUT)/man
	$(call msg,SCDOC,$@)
	$(Q)t=$$(git log -1 --format=%ct -- $< 2>/dev/null); \
		SOURCE_DATE_EPOCH=$${t:-$$(stat -c %Y $<)} scdoc < $< > $@

# What `kvmheat version` says about the build: regenerated every time, but
# only rewritten (and cmd_version.o rebuilt) when its text changes.
$(OUTPUT)/kh_buildinfo.h: FORCE | $(OUTPUT)
	$(Q)./tools/gen-buildinfo.sh $@
$(OUTPUT)/obj/cmd_version.o: $(OUTPUT)/kh_buildinfo.h

# Install into $(1) = DESTDIR + sbin, $(2) man8, $(3) completions, $(4) docs.
# A macro, not a sub-make, so `make deb` uses the binary as built (a test run
# with `-o OUTPUT/kvmheat` relies on nothing rebuilding it).
define kh_install
	$(Q)$(INSTALL) -d $(1) $(2) $(3) $(4)/docs
	$(Q)$(INSTALL) -m 0755 $(OUTPUT)/kvmheat $(1)/kvmheat
	$(Q)$(INSTALL) -m 0644 $(MAN_PAGES) $(2)/
	$(Q)$(INSTALL) -m 0644 $(COMPLETION) $(3)/kvmheat
	$(Q)$(INSTALL) -m 0644 README.md $(4)/README.md
	$(Q)$(INSTALL) -m 0644 $(DOC_FILES) $(4)/docs/
endef

# The file list is documented in README.md ("Installing"); test_install
# checks a DESTDIR install against it, and that uninstall leaves no file.
install: $(OUTPUT)/kvmheat $(MAN_PAGES)
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(call kh_install,$(DESTDIR)$(SBINDIR),$(DESTDIR)$(MAN8DIR),$(DESTDIR)$(BASHCOMPDIR),$(DESTDIR)$(DOCDIR))

# Exactly the files install put there; of the directories only kvmheat's
# own doc directory goes (sbin, man8 and completions are shared).
uninstall:
	$(call msg,UNINST,$(DESTDIR)$(PREFIX))
	$(Q)rm -f $(DESTDIR)$(SBINDIR)/kvmheat $(DESTDIR)$(BASHCOMPDIR)/kvmheat \
		$(patsubst man/%.scd,$(DESTDIR)$(MAN8DIR)/%,$(MAN_SRCS)) \
		$(DESTDIR)$(DOCDIR)/README.md $(patsubst docs/%,$(DESTDIR)$(DOCDIR)/docs/%,$(DOC_FILES))
	$(Q)for d in $(DESTDIR)$(DOCDIR)/docs $(DESTDIR)$(DOCDIR); do \
		[ ! -d $$d ] || rmdir --ignore-fail-on-non-empty $$d; done

# A binary package of what `make install PREFIX=/usr` would put down, plus the
# Debian metadata in debian/ (tools/mkdeb.sh).
deb: $(DEB)
$(DEB): $(OUTPUT)/kvmheat $(MAN_PAGES) $(COMPLETION) README.md $(DOC_FILES) \
		$(wildcard debian/*) tools/mkdeb.sh
	$(call msg,DEB,$@)
	$(Q)rm -rf $(OUTPUT)/deb
	$(call kh_install,$(DEB_ROOT)/usr/sbin,$(DEB_ROOT)/usr/share/man/man8,$(DEB_ROOT)/usr/share/bash-completion/completions,$(DEB_ROOT)/usr/share/doc/kvmheat)
	$(Q)./tools/mkdeb.sh $(OUTPUT)/deb $(KH_VERSION_STR) $(DEB_ARCH) $@

# One static binary (the nested-kernel rig's build): copy it to any x86-64
# host whose kernel has BTF (README.md "A static binary").
static:
	$(MAKE) OUTPUT=build-static STATIC=1 build-static/kvmheat
	@echo "static binary: build-static/kvmheat"
