#!/bin/sh
# Regenerate vmlinux/vmlinux.h from the running kernel's BTF.
#
# KVM types must be in it.  Where KVM is built in (this project's dev
# machines) they are in vmlinux BTF; where it is a module they are in
# /sys/kernel/btf/kvm (and kvm_intel / kvm_amd), dumped here as split BTF
# on top of vmlinux and appended.  The kernel release and the BTF sources
# used are recorded in vmlinux/SOURCE.
set -eu
out_dir=${1:-$(dirname "$0")/../vmlinux}
bpftool=${BPFTOOL:-bpftool}
btf=/sys/kernel/btf
[ -r "$btf/vmlinux" ] || { echo "gen-vmlinux-h: $btf/vmlinux missing: kernel built without CONFIG_DEBUG_INFO_BTF" >&2; exit 1; }

tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.mod"' EXIT
"$bpftool" btf dump file "$btf/vmlinux" format c > "$tmp"
sources="vmlinux"
for m in kvm kvm_intel kvm_amd; do
	[ -r "$btf/$m" ] || continue
	# The module dump repeats the header guard and pragmas: keep the types.
	"$bpftool" btf dump file "$btf/$m" base "$btf/vmlinux" format c |
		sed -e '/^#ifndef __VMLINUX_H__/d' -e '/^#define __VMLINUX_H__/d' \
		    -e '/^#endif \/\* __VMLINUX_H__ \*\//d' > "$tmp.mod"
	# Insert before the final guard so the file stays one unit.
	sed -i '/^#endif \/\* __VMLINUX_H__ \*\//d' "$tmp"
	cat "$tmp.mod" >> "$tmp"
	echo '#endif /* __VMLINUX_H__ */' >> "$tmp"
	sources="$sources $m"
done
mkdir -p "$out_dir"
mv "$tmp" "$out_dir/vmlinux.h"
chmod 644 "$out_dir/vmlinux.h"
trap - EXIT
{
	echo "kernel: $(uname -r)"
	echo "version: $(uname -v)"
	echo "arch: $(uname -m)"
	echo "btf: $sources"
	echo "generated: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "lines: $(wc -l < "$out_dir/vmlinux.h")"
} > "$out_dir/SOURCE"
cat "$out_dir/SOURCE"
