#!/bin/bash
# Benchmark of the aging drivers (printed, never asserted): CPU per GiB per
# scan of `kvmheat idle` (driver: our process's user+system time, which
# holds the kernel's page-table walk for MGLRU and page_idle, plus the
# kdamond's own CPU for DAMON; BPF: run time of the aging programs with
# kernel.bpf_stats_enabled=1) and the BPF map bytes per GiB, beside the
# published anchors.  Runs in the nested-kernel rig (Debian 6.12, kvm_amd
# npt=1, TCG): TCG timings say nothing about real hardware, so compare
# the drivers with each other, not with the anchors.
#
#   tools/bench-idle.sh [MiB]     (guest data size, default 256)
set -u -o pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mib=${1:-256}
pages=$((mib * 256))
work=$(mktemp -d /tmp/kh-bench-idle.XXXXXX)
trap 'rm -rf "$work"' EXIT

cat > "$work/bench.sh" <<EOF
export PATH=/bin
echo 1 > /proc/sys/kernel/bpf_stats_enabled
# every data page written once (a real page each), then a slow hot loop
khguest --file /run/bench.img --cgroup /bench --mem $mib --hot 4096 --cold $((pages - 4096)) \\
	--cold-write-frac 1 --rounds 40 --hot-phases 39 --pause-ms 1500 2> /tmp/g.err &
gp=\$!
while ! grep -q ready /tmp/g.err; do sleep 1; done
sleep 1
for d in mglru damon; do
	kvmheat idle -p \$gp --scans 5 --interval 2 --age-driver \$d > /dev/null 2> /tmp/\$d.err
	grep "idle cost" /tmp/\$d.err | sed "s/^/BENCH \$d /"
done
kill \$gp
EOF

echo "bench-idle: ${mib} MiB guest in the rig (6.12, npt=1), 5 scans 2 s apart per driver" >&2
out=$("$top/tools/vmtest/run.sh" --kernel 6.12 --npt 1 --file "$work/bench.sh" -- sh bench.sh) || {
	echo "bench-idle: the rig run failed" >&2
	echo "$out" >&2
	exit 1
}
printf '%-10s %14s %14s %14s   %s\n' driver "CPU ms/GiB/scan" "driver ms/scan" "of it bpf ms" \
	"published anchor (native hardware)"
grep '^BENCH' <<< "$out" | while read -r _ d line; do
	drv=$(sed -n 's/.*driver [a-z_]* \([0-9.]*\) ms\/scan.*/\1/p' <<< "$line")
	bpf=$(sed -n 's/.*bpf \([0-9.]*\) ms\/scan.*/\1/p' <<< "$line")
	per=$(sed -n 's/.* \([0-9.]*\) ms per GiB per scan.*/\1/p' <<< "$line")
	mapb=$(sed -n 's/.*map bytes \([0-9]*\).*/\1/p' <<< "$line")
	bitsb=$(sed -n 's/.*idle bits \([0-9]*\).*/\1/p' <<< "$line")
	case $d in
	mglru) anchor="MGLRU lockless aging ~20 ms/GiB" ;;
	damon) anchor="(DAMON samples: no per-GiB anchor)" ;;
	esac
	printf '%-10s %14s %14s %14s   %s\n' "$d" "$per" "$drv" "$bpf" "$anchor"
	echo "           BPF maps: $mapb bytes in all for ${mib} MiB; the idle bits $bitsb" \
		"($((bitsb * 1024 / mib / 1024)) KiB per GiB at this size: 51.2 for a base-3 state a page," \
		"the rest a 4 KiB array header and page rounding), the rest fixed floors"
done
printf '%-10s %14s %14s %14s   %s\n' page_idle n/a n/a n/a \
	"~15 ms/GiB (Fengguang Wu's 2018 RFC); no kernel here has CONFIG_IDLE_PAGE_TRACKING"
