#!/bin/sh
# The README's demo: start the bundled khguest with a hot band, a scattered
# hot set and some written pages, trace it with kvmheat heat, show the result.
#   tools/demo.sh [BUILD_DIR [rig]]
set -eu
build=${1:-build}
mode=${2:-host}

# A host without a usable /dev/kvm (some machines of this project's kind
# have no KVM at all) runs the demo inside the nested-kernel rig instead:
# Debian 6.12 under QEMU with kvm_amd, the static kvmheat and khguest in
# its /bin (docs/VMTEST.md).  Said, never silent.
if [ "$mode" = host ] && ! { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }; then
	echo "demo: no usable /dev/kvm on this host; running the demo inside the" \
		"nested-kernel rig (Debian 6.12 under QEMU, kvm_amd; about 2-3 minutes)" >&2
	here=$(cd "$(dirname "$0")" && pwd)
	exec "$here/vmtest/run.sh" --kernel 6.12 --npt 1 --file "$here/demo.sh" \
		-- sh demo.sh /bin rig
fi
err=$(mktemp)
trap 'rm -f "$err"; kill "${gp:-}" 2>/dev/null || true' EXIT

guest="--wait-signal --mem 64 --hot 384 --cold 3072 --write-frac 0.25 --layout contiguous"
guest="$guest --offset random --seed 42"
heat="-d 30 -n 12"
if [ "$mode" = rig ]; then
	# Nested paging runs the guest's accesses in hardware (here TCG): no
	# walks to count, so the demo asks the kernel to age the guest (MGLRU,
	# which never reclaims) and shows idle ages.  The hot set is touched
	# every 250 ms for about 10 s; the data slot is a tmpfs file, so every
	# touched page is a real page that can be aged (an untouched anonymous
	# page read maps the zero page, which is not).
	guest="$guest --rounds 40 --hot-phases 39 --pause-ms 250 --file /run/khdemo.img"
	guest="$guest --cgroup /khdemo"
	heat="$heat --age-driver mglru --color never"
else
	guest="$guest --rounds 24"
fi
# shellcheck disable=SC2086 # word lists on purpose
"$build/khguest" $guest 2> "$err" &
gp=$!
i=0
until grep -q ready "$err"; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$err" >&2; exit 1; }
	sleep 0.1
done
echo "demo guest: pid $gp, 64 MiB, 384 hot pages (a quarter written), 3072 cold ones"
# Release the guest once kvmheat says it is attached; kvmheat stops when it exits.
( until grep -q tracing "$err" 2>/dev/null; do sleep 0.1; done; kill -USR1 "$gp" ) &
# shellcheck disable=SC2086
"$build/kvmheat" heat -p "$gp" $heat 2>> "$err" || { cat "$err" >&2; exit 1; }
