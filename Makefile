# kvmheat build.  `make` builds everything, `make test` runs the suite,
# `make deps` installs the Debian packages needed.  V=1 for full commands.
OUTPUT ?= build
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= cc
ARCH := x86

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

DEPS := libbpf-dev bpftool libelf-dev zlib1g-dev clang llvm libjansson-dev \
	libcmocka-dev libncurses-dev libpng-dev libexpat1-dev pkg-config make gcc tmux \
	linux-perf bpftrace libclang-rt-14-dev
# Pictures: cairo draws PNGs (text through fontconfig, DejaVu fonts); the HTML
# report test opens the page in headless Chromium; rsvg-convert views SVGs.
DEPS += libcairo2-dev fonts-dejavu-core chromium librsvg2-bin
# export: its HTTP server; the test scrapes it with a real Prometheus and promtool.
DEPS += libmicrohttpd-dev prometheus
# The nested-kernel rig: QEMU, a static busybox, initramfs tools, libzstd.a.
DEPS += qemu-system-x86 busybox-static cpio kmod xz-utils zstd libzstd-dev

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Iinclude -Isrc -I$(OUTPUT)
# Checked string and memory calls (glibc's _chk variants) in the builds we
# ship; not under the sanitizers, which intercept the same calls.
ifeq ($(FUZZ)$(SANITIZE),)
CFLAGS += -D_FORTIFY_SOURCE=2
endif
# FUZZ=1: objects instrumented for libFuzzer (use with OUTPUT=build-fuzz; see `make fuzz`).
ifeq ($(FUZZ),1)
CC := clang
CFLAGS += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
endif
ifeq ($(SANITIZE),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif
LDLIBS := -lbpf -lelf -lz -ljansson -lncursesw -lpng -lexpat -lm -lpthread
CAIRO_CFLAGS := $(shell pkg-config --cflags cairo fontconfig 2>/dev/null)
CAIRO_LIBS := $(shell pkg-config --libs cairo fontconfig 2>/dev/null)
# Resolve every symbol at start (with the default relro, the GOT becomes
# read-only): kvmheat runs as root.
LDFLAGS += -Wl,-z,now
# STATIC=1: self-contained binaries for the nested-kernel rig's initramfs.
# `export` has no HTTP server there: Debian's libmicrohttpd.a needs static
# GnuTLS dependencies (libp11-kit, libunistring) that Debian does not ship.
ifeq ($(STATIC),1)
LDFLAGS += -static
LDLIBS += -ltinfo -lzstd
CFLAGS += -DKH_NO_CAIRO -DKH_NO_MICROHTTPD
else
CFLAGS += $(CAIRO_CFLAGS)
LDLIBS += $(CAIRO_LIBS) -lmicrohttpd
endif

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ivmlinux -Iinclude -Wall \
	-Wno-unused-function -Wno-compare-distinct-pointer-types

BPF_NAMES := kvmheat vms
SKELS := $(patsubst %,$(OUTPUT)/%.skel.h,$(BPF_NAMES))
# cmd_version.c bakes in the git revision, which changes with every commit: it is
# linked into kvmheat alone, so a commit relinks one binary, not every test.
LIB_SRCS := $(filter-out src/main.c src/cmd_version.c,$(wildcard src/*.c))
LIB_OBJS := $(patsubst src/%.c,$(OUTPUT)/obj/%.o,$(LIB_SRCS))
TEST_SRCS := $(wildcard tests/test_*.c)
TEST_BINS := $(patsubst tests/%.c,$(OUTPUT)/tests/%,$(TEST_SRCS))
GUEST := $(OUTPUT)/khguest

.PHONY: all clean deps test test-san vmlinux demo bench vmtest fuzz
.DELETE_ON_ERROR:
.SECONDARY:

all: $(OUTPUT)/kvmheat $(GUEST) $(TEST_BINS) $(OUTPUT)/mapmem $(OUTPUT)/khvt $(OUTPUT)/synthrec \
	$(OUTPUT)/khscrape $(OUTPUT)/khq $(OUTPUT)/khl2

deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEPS)

vmlinux:
	./tools/gen-vmlinux-h.sh

$(OUTPUT) $(OUTPUT)/obj $(OUTPUT)/tests:
	$(Q)mkdir -p $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.bpf.h) include/kvmheat.h vmlinux/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

$(OUTPUT)/obj/%.o: src/%.c $(wildcard src/*.h) include/kvmheat.h $(SKELS) | $(OUTPUT)/obj
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# rebuilt whole: `ar r` keeps members of sources that were removed or renamed
$(OUTPUT)/libkh.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $^

$(OUTPUT)/kvmheat: $(OUTPUT)/obj/main.o $(OUTPUT)/obj/cmd_version.o $(OUTPUT)/libkh.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/tests/%: tests/%.c $(wildcard tests/*.h) tools/khdial.h $(OUTPUT)/libkh.a | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $< $(OUTPUT)/libkh.a $(LDFLAGS) $(LDLIBS) -lcmocka -lexpat -o $@

$(OUTPUT)/mapmem: tools/mapmem.c $(OUTPUT)/libkh.a
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(OUTPUT)/libkh.a $(LDFLAGS) $(LDLIBS) -o $@

$(OUTPUT)/synthrec: tools/synthrec.c $(OUTPUT)/libkh.a
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(OUTPUT)/libkh.a $(LDFLAGS) $(LDLIBS) -o $@

# The scrape load of tools/bench-export.sh.
$(OUTPUT)/khscrape: tools/khscrape.c tools/khdial.h | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LDFLAGS) -lpthread -o $@

$(GUEST): tools/guest/khguest.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LDFLAGS) -ljansson -o $@

test: all
	./tests/run.sh $(OUTPUT)

# The nested-kernel rig alone (docs/VMTEST.md); `make test` runs it too.
vmtest: all
	./tests/run.sh $(OUTPUT) test_vmtest
	./tests/run.sh $(OUTPUT) test_vmidle

$(OUTPUT)/khvt: tools/vmtest/khvt.c $(OUTPUT)/libkh.a
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(OUTPUT)/libkh.a $(LDFLAGS) $(LDLIBS) -o $@

# The rig's real-guest stage (tools/vmtest/qemu/): khq checks in L1, khl2 is
# the workload in the L2 guest (always static: L2's initramfs has no libc).
$(OUTPUT)/khq: tools/vmtest/qemu/khq.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LDFLAGS) -ljansson -o $@

$(OUTPUT)/khl2: tools/vmtest/qemu/khl2.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -g -Wall -Wextra -static $< -o $@	# no sanitizers: static

# The suite again under AddressSanitizer and UBSan (kvmheat, khguest and the
# tests); the nested-kernel rig needs static binaries, which ASan cannot be.
test-san:
	$(MAKE) OUTPUT=build-san SANITIZE=1 all
	KH_VMTEST_SKIP=1 ./tests/run.sh build-san '!test_vmtest'

demo: all
	./tools/demo.sh $(OUTPUT)

# Benchmarks (printed, never asserted): cost against bpftrace and perf, the
# recorder against perf record, report/heatmap speed, memory over 10 minutes,
# the exporter under scrape load and with 1-50 VMs.
bench: all
	./tools/bench.sh $(OUTPUT)
	./tools/bench-record.sh $(OUTPUT)
	./tools/bench-rss.sh $(OUTPUT) 600 120
	./tools/bench-export.sh $(OUTPUT)

# libFuzzer targets for every parser of outside input; FUZZ_SECONDS per target.
FUZZ_TARGETS := datafile parse export vmname
FUZZ_SECONDS ?= 45
fuzz:
	$(MAKE) OUTPUT=build-fuzz FUZZ=1 build-fuzz/libkh.a
	for t in $(FUZZ_TARGETS); do \
		clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc -Ibuild-fuzz \
			tests/fuzz/fuzz_$$t.c build-fuzz/libkh.a $(LDLIBS) -o build-fuzz/fuzz_$$t \
			|| exit 1; \
	done
	./tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf $(OUTPUT) build-static build-fuzz

# make install / uninstall / deb / static, manual pages (tools/dist.mk)
include tools/dist.mk
