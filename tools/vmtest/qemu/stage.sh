# The rig's real-guest stage (docs/VMTEST.md), sourced by tools/vmtest/vmtest.sh
# after its khguest boots: the L1 rig kernel (Debian 6.12, kvm_amd, ONE vCPU)
# runs Debian's own qemu-system-x86_64 -accel kvm with an L2 Debian kernel
# whose initramfs runs khl2; kvmheat watches that QEMU from L1.
#
#   qemu_stage RELEASE SHORT  (RELEASE: an unpacked kernel in $cache/root, for
#                              both L1 and L2; SHORT: 6.12 or 6.1, the tag's)
#
# Uses vmtest.sh's $out $cache $static $busybox $top and say.  Leaves
# <tag>.log/.rc for tags SHORT-qemu-npt1 and SHORT-qemu-npt0, or
# SHORT-qemu-skip with the reason the stage could not run.
#
# QEMU goes into L1's initramfs, not over 9p: L1 runs under TCG, where every
# 9p read is an emulated virtio round trip, while an initramfs segment is
# loaded by QEMU's fw_cfg DMA in one go.  The segment (binary, the libraries
# ldd lists at their own paths, the ld.so, the firmware for -L) is built once
# per QEMU build and kept in $cache/qemu, uncompressed: gunzip under TCG
# costs more than copying.

# qemu_skip SHORT REASON...: the stage of one L1 kernel could not run
qemu_skip() {
	local short=$1
	shift
	echo "$*" > "$out/$short-qemu-skip"
	say "real-guest stage $short SKIPPED: $*"
}

# Firmware a pc machine with -nodefaults and -kernel loads (SeaBIOS, the
# linuxboot option ROM, KVM's vapic ROM), plus the alternatives QEMU may pick.
QEMU_ROMS="bios-256k.bin bios.bin linuxboot.bin linuxboot_dma.bin kvmvapic.bin multiboot.bin
multiboot_dma.bin pvh.bin"

# The cached QEMU segment; prints its path.
qemu_bundle() {
	local q ver key seg r lib f
	q=$(command -v qemu-system-x86_64) || return 1
	ldd "$q" | grep -q "not found" && return 1
	ver=$(dpkg-query -W -f '${Version}' qemu-system-x86 2> /dev/null)
	key=$( { echo "$ver"; ls -lL "$q"; ldd "$q"; } | md5sum | cut -c1-12)
	seg=$cache/qemu/qemu-$key.cpio
	[ -s "$seg" ] && { echo "$seg"; return 0; }
	mkdir -p "$cache/qemu"
	r=$(mktemp -d "$out/qemufs.XXXXXX")
	mkdir -p "$r/qemu/bin" "$r/qemu/share"
	cp "$q" "$r/qemu/bin/" || return 1
	# "libX.so => /path (addr)" and the interpreter "/lib64/ld-linux... (addr)"
	for lib in $(ldd "$q" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		mkdir -p "$r$(dirname "$lib")"
		cp -L "$lib" "$r$lib" || return 1
	done
	# QEMU's own search path (-L help): the first folder holding a file wins
	for f in $QEMU_ROMS; do
		for d in $("$q" -L help); do
			[ -e "$d/$f" ] && { cp -L "$d/$f" "$r/qemu/share/"; break; }
		done
	done
	[ -e "$r/qemu/share/bios-256k.bin" ] || return 1
	(cd "$r" && find . | cpio -o -H newc --quiet) > "$seg.tmp" && mv "$seg.tmp" "$seg" || return 1
	rm -rf "$r"
	echo "$seg"
}

# The stage's own segment: L2's kernel and initramfs, L1's /init and khq.
qemu_l2_segment() {
	local rel=$1 seg=$2 r l2
	r=$(mktemp -d "$out/l2fs.XXXXXX")
	l2=$r/l2root
	mkdir -p "$l2"/{bin,proc,sys,dev,tmp} "$r/l2" "$r/bin"
	cp "$busybox" "$l2/bin/busybox"
	for a in $("$busybox" --list); do
		[ -e "$l2/bin/$a" ] || ln -s busybox "$l2/bin/$a"
	done
	cp "$static/khl2" "$l2/bin/" && cp "$top/tools/vmtest/qemu/l2init" "$l2/init" || return 1
	(cd "$l2" && find . | cpio -o -H newc --quiet | gzip -1) > "$r/l2/initrd.gz" || return 1
	rm -rf "$l2"
	cp "$cache/root/$rel/boot/vmlinuz-$rel" "$r/l2/vmlinuz" || return 1
	cp "$static/khq" "$r/bin/" && cp "$top/tools/vmtest/qemu/init" "$r/init" || return 1
	chmod 755 "$r/init"
	(cd "$r" && find . | cpio -o -H newc --quiet) > "$seg" || return 1
	rm -rf "$r"
}

qemu_boot() {
	local tag=$1 rel=$2 npt=$3 img=$4 t rc stall
	t=$(date +%s)
	stall=${KH_VMTEST_QEMU_STALL:-0}
	say "boot $tag: $rel, kvm_amd npt=$npt, QEMU + L2 $rel inside"
	# -smp 1: with two L1 vCPUs the L2 guest hung in early boot 4 times in 5
	# (docs/VMTEST.md); thread=single as for the khguest boots.
	timeout --foreground -k 10 "${KH_VMTEST_QEMU_TIMEOUT:-420}" qemu-system-x86_64 \
		-machine q35 -accel tcg,thread=single -cpu max -smp 1 -m 2G \
		-kernel "$cache/root/$rel/boot/vmlinuz-$rel" -initrd "$img" -nographic -no-reboot \
		-append "console=ttyS0 panic=-1 khvt.npt=$npt khvt.tag=$tag khq.stall=$stall" \
		-device isa-debug-exit,iobase=0xf4,iosize=4 < /dev/null > "$out/$tag.log" 2>&1
	rc=$?
	echo "$rc" > "$out/$tag.rc"
	echo "$tag $rel $npt $(($(date +%s) - t))" >> "$out/boots"
	say "boot $tag: QEMU status $rc after $(($(date +%s) - t)) s"
}

qemu_stage() {
	local rel=$1 short=$2 base=$out/initrd-$1.cpio.gz qseg l2seg img t0 t1 pids="" npt
	rm -f "$out/$short"-qemu-npt*.log "$out/$short"-qemu-npt*.rc "$out/$short-qemu-skip"
	[ -n "$rel" ] || { qemu_skip "$short" "no $short kernel"; return 0; }
	t0=$(date +%s)
	[ -s "$base" ] || { qemu_skip "$short" "no L1 initramfs for $rel"; return 0; }
	make -C "$top" -s OUTPUT="$static" STATIC=1 "$static/khq" "$static/khl2" \
		>> "$out/build.log" 2>&1 || { qemu_skip "$short" "static build of khq/khl2 failed"; return 0; }
	qseg=$(qemu_bundle) || { qemu_skip "$short" "cannot bundle qemu-system-x86_64, its libraries" \
		"and /usr/share/qemu/bios-256k.bin"; return 0; }
	l2seg=$out/l2-$short.cpio
	qemu_l2_segment "$rel" "$l2seg" || { qemu_skip "$short" "building L2's initramfs failed"; return 0; }
	img=$out/initrd-qemu-$rel.img
	# Concatenated segments; the kernel looks for a cpio header after a
	# compressed one only at a 4-byte boundary: pad each with zeros.
	cat "$base" > "$img" && truncate -s %512 "$img" && cat "$qseg" >> "$img" &&
		truncate -s %512 "$img" && cat "$l2seg" >> "$img" ||
		{ qemu_skip "$short" "cannot write $img"; return 0; }
	t1=$(date +%s)
	say "real-guest initramfs: $(du -k "$img" | cut -f1) KiB (QEMU segment $(du -k "$qseg" |
		cut -f1) KiB, cached) in $((t1 - t0)) s"
	# Two boots, one host thread each: in parallel when the machine has the
	# cores (KH_VMTEST_QEMU_JOBS=1 runs them one after the other).
	for npt in ${KH_VMTEST_QEMU_NPT:-1 0}; do
		if [ "$(nproc)" -ge 2 ] && [ "${KH_VMTEST_QEMU_JOBS:-2}" -ge 2 ]; then
			qemu_boot "$short-qemu-npt$npt" "$rel" "$npt" "$img" &
			pids="$pids $!"
		else
			qemu_boot "$short-qemu-npt$npt" "$rel" "$npt" "$img"
		fi
	done
	for p in $pids; do wait "$p"; done
	rm -f "$img" "$l2seg"
	say "real-guest stage done in $(($(date +%s) - t0)) s"
}
