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
	libcmocka-dev libncurses-dev libpng-dev pkg-config make gcc tmux

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Iinclude -Isrc -I$(OUTPUT)
ifeq ($(SANITIZE),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif
LDLIBS := -lbpf -lelf -lz -ljansson -lncursesw -lpng

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ivmlinux -Iinclude -Wall \
	-Wno-unused-function -Wno-compare-distinct-pointer-types

BPF_NAMES := kvmheat vms
SKELS := $(patsubst %,$(OUTPUT)/%.skel.h,$(BPF_NAMES))
LIB_SRCS := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJS := $(patsubst src/%.c,$(OUTPUT)/obj/%.o,$(LIB_SRCS))
TEST_SRCS := $(wildcard tests/test_*.c)
TEST_BINS := $(patsubst tests/%.c,$(OUTPUT)/tests/%,$(TEST_SRCS))
GUEST := $(OUTPUT)/khguest

.PHONY: all clean deps test vmlinux demo
.DELETE_ON_ERROR:
.SECONDARY:

all: $(OUTPUT)/kvmheat $(GUEST) $(TEST_BINS) $(OUTPUT)/mapmem

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

$(OUTPUT)/libkh.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(OUTPUT)/kvmheat: $(OUTPUT)/obj/main.o $(OUTPUT)/libkh.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/tests/%: tests/%.c $(wildcard tests/*.h) $(OUTPUT)/libkh.a | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $< $(OUTPUT)/libkh.a $(LDFLAGS) $(LDLIBS) -lcmocka -o $@

$(OUTPUT)/mapmem: tools/mapmem.c $(OUTPUT)/libkh.a
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(OUTPUT)/libkh.a $(LDFLAGS) $(LDLIBS) -o $@

$(GUEST): tools/guest/khguest.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LDFLAGS) -ljansson -o $@

test: all
	./tests/run.sh $(OUTPUT)

demo: all
	./tools/demo.sh $(OUTPUT)

clean:
	rm -rf $(OUTPUT)
