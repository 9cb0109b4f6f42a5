#!/bin/bash
# Run one command as root inside the nested-kernel rig (docs/VMTEST.md
# "Running any command"):
#
#   tools/vmtest/run.sh [--kernel 6.1|6.12] [--npt 0|1] [--file PATH]... -- CMD [ARGS]
#
# Boots that Debian kernel under QEMU with the static kvmheat, khguest and
# khvt in /bin and every --file under /extra/ (the command's working
# directory), with kvm_amd loaded (npt as asked), swap on zram, cgroup v2,
# debugfs and tracefs mounted, THP off.  Prints the command's output
# (stdout and stderr, merged: one serial console carries both) and exits
# with its status.  When the rig itself cannot run or the guest never
# reaches the command: a reason on stderr and status 125.
# Defaults: --kernel 6.12 --npt 1.  KH_VMTEST_KEEP=DIR keeps the boot's
# files (console log, initramfs) in DIR.
set -u -o pipefail

usage() {
	echo "usage: tools/vmtest/run.sh [--kernel 6.1|6.12] [--npt 0|1] [--file PATH]... -- CMD [ARGS]" >&2
	exit 125
}
die() {
	echo "vmtest run: $*" >&2
	exit 125
}

kernel=6.12 npt=1 files=()
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) [ $# -ge 2 ] || usage; kernel=$2; shift 2 ;;
	--npt) [ $# -ge 2 ] || usage; npt=$2; shift 2 ;;
	--file) [ $# -ge 2 ] || usage; files+=("$2"); shift 2 ;;
	--) shift; break ;;
	*) usage ;;
	esac
done
[ $# -ge 1 ] || usage
case $kernel in 6.1|6.12) ;; *) die "--kernel must be 6.1 or 6.12, not '$kernel'" ;; esac
case $npt in 0|1) ;; *) die "--npt must be 0 or 1, not '$npt'" ;; esac

here=$(cd "$(dirname "$0")" && pwd)
work=${KH_VMTEST_KEEP:-}
if [ -z "$work" ]; then
	work=$(mktemp -d /tmp/khvt-run.XXXXXX) || die "mktemp failed"
	trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work" && rm -rf "$work/extra" && mkdir "$work/extra" || die "cannot use $work"
for f in "${files[@]}"; do
	[ -e "$f" ] || die "--file $f: no such file"
	cp -a "$f" "$work/extra/" || die "cannot copy $f"
done

# The command as a busybox sh script: every word single-quoted.
{
	printf 'exec'
	for a in "$@"; do
		printf " '%s'" "$(printf '%s' "$a" | sed "s/'/'\\\\''/g")"
	done
	printf '\n'
} > "$work/extra/.khrun"

KH_VMTEST_KERNELS=$kernel KH_VMTEST_NPTS=$npt KH_VMTEST_EXTRA=$work/extra \
	KH_VMTEST_APPEND="quiet loglevel=1" "$here/vmtest.sh" "$work/out" 2> "$work/vmtest.err"
[ -e "$work/out/skip" ] && die "rig skipped: $(cat "$work/out/skip")"
log=$work/out/$kernel-npt$npt.log
[ -e "$log" ] || { cat "$work/vmtest.err" >&2; die "no console log: the boot did not happen"; }

# The console has CR LF line ends; the markers are whole lines.
tr -d '\r' < "$log" | awk '
	/^KHVT run-end [0-9]+$/ { status = $3; done = 1; inside = 0; next }
	inside { print }
	/^KHVT run-begin$/ { inside = 1 }
	END { exit done ? 0 : 1 }' || {
	grep -a "KHVT result .* fail" "$log" | tr -d '\r' >&2
	tail -n 20 "$log" | tr -d '\r' >&2
	die "the command did not finish inside the guest (QEMU status $(cat "$work/out/"*.rc 2> /dev/null))"
}
status=$(tr -d '\r' < "$log" | sed -n 's/^KHVT run-end \([0-9]*\)$/\1/p' | tail -1)
exit "$status"
