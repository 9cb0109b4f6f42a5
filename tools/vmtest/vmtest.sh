#!/bin/bash
# The nested-kernel rig (docs/VMTEST.md): boot Debian's 6.1 and 6.12 kernels
# under QEMU (TCG) with kvm_amd npt=1 and npt=0, run kvmheat against khguest
# inside, and leave per boot the serial console log and QEMU's exit status.
#
#   tools/vmtest/vmtest.sh OUTDIR
#
# OUTDIR gets: skip (one line: why the rig could not run), or per boot
# <tag>.log (console), <tag>.rc (QEMU exit status), and boots (one line per
# boot: tag kernel-release npt seconds).  tests/test_vmtest.c reads them.
# The exit status is 0 whenever those files say what happened.
#
# tools/vmtest/run.sh narrows it (docs/VMTEST.md "Running any command"):
# KH_VMTEST_KERNELS ("6.1 6.12") and KH_VMTEST_NPTS ("1 0") pick the boots,
# KH_VMTEST_EXTRA=DIR is copied to /extra/ in the initramfs (its .khrun, when
# present, replaces the checks), KH_VMTEST_APPEND adds to the kernel command line.
#
# Kernels come from Debian's packages through a private apt configuration
# built here from the machine's own sources (plus the backports suite), so
# the system's apt state is never touched.  Cache: $KH_VMTEST_CACHE
# (default /var/cache/kvmheat-vmtest); never in the repository.
set -u -o pipefail

out=${1:?usage: vmtest.sh OUTDIR}
top=$(cd "$(dirname "$0")/../.." && pwd)
cache=${KH_VMTEST_CACHE:-/var/cache/kvmheat-vmtest}
static=${KH_VMTEST_BUILD:-$top/build-static}
boot_timeout=${KH_VMTEST_BOOT_TIMEOUT:-300}
mkdir -p "$out"
rm -f "$out"/*-npt*.log "$out"/*.rc "$out"/skip "$out"/*qemu-skip "$out"/boots

say() { echo "vmtest: $*" >&2; }
skip() {
	echo "$*" > "$out/skip"
	say "SKIPPED: $*"
	exit 0
}

[ "$(id -u)" = 0 ] || skip "needs root (apt-get download, BPF and KVM inside the guest)"
for tool in qemu-system-x86_64 dpkg-deb apt-get apt-cache depmod modprobe cpio xz gzip; do
	command -v "$tool" > /dev/null || skip "$tool not installed (run make deps)"
done
busybox=$(command -v busybox) || skip "busybox not installed (busybox-static)"
grep -q 'not a dynamic' <<< "$(ldd "$busybox" 2>&1)" ||
	skip "$busybox is not statically linked (install busybox-static)"

# ---- kernels -----------------------------------------------------------

# One "URI keyring" line per source of the machine's own Debian suite.
apt_uris() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -e "$f" ] || continue
		awk -v suite="$1" '
			function flush() { if (ok && uri != "") print uri, (key == "" ? "-" : key);
					   ok = 0; uri = ""; key = "" }
			/^[ \t]*$/ { flush(); next }
			/^Types:/ { deb = 0; for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
			/^URIs:/ { uri = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite && deb) ok = 1 }
			/^Signed-By:/ { key = $2 }
			END { flush() }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -e "$f" ] || continue
		awk -v suite="$1" '$1 == "deb" {
			key = "-"; i = 2
			if ($2 ~ /^\[/) {
				for (; i <= NF; i++) {
					if ($i ~ /signed-by=/) { key = $i; sub(/.*signed-by=/, "", key);
								 sub(/\]$/, "", key) }
					if ($i ~ /\]$/) { i++; break }
				}
			}
			if ($(i + 1) == suite) print $i, key
		}' "$f"
	done
}

setup_apt() {
	local codename uri key opt
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[ -n "$codename" ] || return 1
	aptdir=$cache/apt
	mkdir -p "$aptdir/state/lists/partial" "$aptdir/cache/archives/partial" "$aptdir/parts"
	: > "$aptdir/state/status"
	: > "$aptdir/sources.list"
	while read -r uri key; do
		opt=""
		[ "$key" != "-" ] && opt="[signed-by=$key] "
		echo "deb ${opt}$uri $codename main" >> "$aptdir/sources.list"
		echo "deb ${opt}$uri $codename-backports main" >> "$aptdir/sources.list"
	done < <(apt_uris "$codename" | sort -u)
	[ -s "$aptdir/sources.list" ] || return 1
	cat > "$aptdir/apt.conf" <<-EOF
	Dir::State "$aptdir/state";
	Dir::State::status "$aptdir/state/status";
	Dir::Cache "$aptdir/cache";
	Dir::Etc::SourceList "$aptdir/sources.list";
	Dir::Etc::SourceParts "$aptdir/parts";
	Dir::Etc::PreferencesParts "$aptdir/parts";
	Dir::Etc::Preferences "$aptdir/parts/none";
	APT::Sandbox::User "root";
	EOF
	APT_CONFIG=$aptdir/apt.conf apt-get -q update > "$aptdir/update.log" 2>&1 || return 1
	CODENAME=$codename
}

# Unpack package $1 (a linux-image-* name) into $cache/root/<release>.
get_kernel() {
	local pkg=$1 deb rel
	mkdir -p "$cache/debs" "$cache/root"
	deb=$(ls "$cache/debs/${pkg}_"*.deb 2> /dev/null | head -1)
	if [ -z "$deb" ]; then
		(cd "$cache/debs" && APT_CONFIG=$aptdir/apt.conf apt-get -q download "$pkg") \
			> "$cache/debs/download.log" 2>&1 || return 1
		deb=$(ls "$cache/debs/${pkg}_"*.deb 2> /dev/null | head -1)
		[ -n "$deb" ] || return 1
	fi
	rel=${pkg#linux-image-}
	if [ ! -e "$cache/root/$rel/.unpacked" ]; then
		rm -rf "$cache/root/$rel"
		dpkg-deb -x "$deb" "$cache/root/$rel" || return 1
		touch "$cache/root/$rel/.unpacked"
	fi
	echo "$rel"
}

t0=$(date +%s)
aptdir=""
setup_apt || skip "cannot build a private apt configuration from /etc/apt/sources.list.d" \
	"(no Debian suite found, or apt-get update failed: $cache/apt/update.log)"
apt_show() { APT_CONFIG=$aptdir/apt.conf apt-cache show "$@" 2> /dev/null; }
# 6.1: what the base suite's linux-image-amd64 depends on.
pkg61=$(apt_show "linux-image-amd64/$CODENAME" |
	sed -n 's/^Depends: \(linux-image-[^ ,]*\).*/\1/p' | head -1)
# 6.12: the newest linux-image-6.12*-amd64 of the backports suite.
pkg612=$(APT_CONFIG=$aptdir/apt.conf apt-cache pkgnames linux-image-6.12 2> /dev/null |
	 grep -E '^linux-image-6\.12[^-]*-amd64$' | sort -V | tail -1)
[ -n "$pkg61" ] || skip "no linux-image-amd64 in $CODENAME"
[ -n "$pkg612" ] || skip "no linux-image-6.12*-amd64 in $CODENAME-backports"
rel61=$(get_kernel "$pkg61") || skip "cannot download or unpack $pkg61"
rel612=$(get_kernel "$pkg612") || skip "cannot download or unpack $pkg612"
say "kernels: $rel61 ($pkg61), $rel612 ($pkg612); fetched in $(($(date +%s) - t0)) s"

# ---- static binaries ---------------------------------------------------

t1=$(date +%s)
make -C "$top" -s OUTPUT="$static" STATIC=1 "$static/kvmheat" "$static/khguest" "$static/khvt" \
	> "$out/build.log" 2>&1 || skip "static build failed (libbpf.a, libelf.a, libz.a," \
	"libjansson.a from the -dev packages?): see $out/build.log"
say "static build: $(($(date +%s) - t1)) s"

# ---- initramfs -----------------------------------------------------------

# Copy module $2 (path) of kernel root $1 into rootfs $3, decompressed.
copy_module() {
	local kroot=$1 path=$2 r=$3 rel dst
	rel=${path#"$kroot"}
	dst=$r/${rel%.xz}
	dst=${dst%.zst}
	mkdir -p "$(dirname "$dst")"
	case $path in
	*.xz) xz -dc "$path" > "$dst" ;;
	*.zst) zstd -qdc "$path" > "$dst" ;;
	*) cp "$path" "$dst" ;;
	esac
}

mkinitrd() {
	local rel=$1 img=$2 kroot=$cache/root/$1 r m a
	r=$(mktemp -d "$out/rootfs.XXXXXX")
	mkdir -p "$r"/{bin,proc,sys,dev,tmp,run,"lib/modules/$rel"}
	cp "$busybox" "$r/bin/busybox"
	for a in $("$busybox" --list); do
		[ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"
	done
	ln -s bin "$r/sbin"
	cp "$static/kvmheat" "$static/khguest" "$static/khvt" "$r/bin/"
	cp "$top/tools/vmtest/init" "$r/init"
	if [ -n "${KH_VMTEST_EXTRA:-}" ]; then
		cp -a "$KH_VMTEST_EXTRA" "$r/extra" || return 1
	fi
	chmod 755 "$r/init"
	[ -e "$kroot/.depmod" ] || { depmod -b "$kroot" "$rel" && touch "$kroot/.depmod"; } ||
		return 1
	for m in kvm_amd zram; do
		modprobe -d "$kroot" -S "$rel" --show-depends "$m" > "$r/deps" || return 1
		while read -r a path _; do
			[ "$a" = insmod ] && { copy_module "$kroot" "$path" "$r" || return 1; }
		done < "$r/deps"
	done
	rm -f "$r/deps"
	cp "$kroot/lib/modules/$rel/modules.builtin" "$kroot/lib/modules/$rel/modules.builtin.modinfo" \
		"$kroot/lib/modules/$rel/modules.order" \
		"$r/lib/modules/$rel/" 2> /dev/null
	depmod -b "$r" "$rel" || return 1
	(cd "$r" && find . | cpio -o -H newc --quiet | gzip -1) > "$img" || return 1
	rm -rf "$r"
}

# ---- boots ---------------------------------------------------------------

boot() {
	local tag=$1 rel=$2 npt=$3 img=$4 t rc
	t=$(date +%s)
	say "boot $tag: $rel, kvm_amd npt=$npt"
	timeout --foreground -k 10 "$boot_timeout" qemu-system-x86_64 -machine q35 \
		-accel tcg,thread=single -cpu max -smp 2 -m 2G -kernel "$cache/root/$rel/boot/vmlinuz-$rel" \
		-initrd "$img" -nographic -no-reboot \
		-append "console=ttyS0 panic=-1 khvt.npt=$npt khvt.tag=$tag ${KH_VMTEST_APPEND:-}" \
		-device isa-debug-exit,iobase=0xf4,iosize=4 < /dev/null > "$out/$tag.log" 2>&1
	rc=$?
	echo "$rc" > "$out/$tag.rc"
	echo "$tag $rel $npt $(($(date +%s) - t))" >> "$out/boots"
	say "boot $tag: QEMU status $rc after $(($(date +%s) - t)) s"
}

for k in "6.1 $rel61" "6.12 $rel612"; do
	set -- $k
	[[ " ${KH_VMTEST_KERNELS:-6.1 6.12} " == *" $1 "* ]] || continue
	img=$out/initrd-$2.cpio.gz
	t1=$(date +%s)
	mkinitrd "$2" "$img" || skip "building the initramfs for $2 failed"
	say "initramfs $2: $(du -k "$img" | cut -f1) KiB in $(($(date +%s) - t1)) s"
	for npt in ${KH_VMTEST_NPTS:-1 0}; do
		# KH_VMTEST_KHGUEST=0: only the real-guest stage below
		[ "${KH_VMTEST_KHGUEST:-1}" = 0 ] || boot "$1-npt$npt" "$2" "$npt" "$img"
	done
done

# ---- the real-guest stage: QEMU running a Linux guest (tools/vmtest/qemu) ----

. "$top/tools/vmtest/qemu/stage.sh"
# KH_VMTEST_QEMU_L1: which kernels serve as L1 (and L2), in turn.
for k in ${KH_VMTEST_QEMU_L1:-6.12 6.1}; do
	rel=$rel612
	[ "$k" = 6.1 ] && rel=$rel61
	if [ "${KH_VMTEST_QEMU:-1}" = 0 ]; then
		qemu_skip "$k" "KH_VMTEST_QEMU=0"
	else
		qemu_stage "$rel" "$k"
	fi
done
say "matrix done in $(($(date +%s) - t0)) s"
exit 0
