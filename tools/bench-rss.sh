#!/bin/bash
# Userspace memory over a long run: `kvmheat top -b` and `kvmheat record`
# (with and without --events) watch one khguest that keeps a hot set busy,
# and their resident set size is printed every STEP seconds.  Flat rows are
# the goal; the figures are printed, not asserted.
#
#   sudo tools/bench-rss.sh [BUILD] [SECONDS] [STEP]
set -u
build=${1:-build}
secs=${2:-600}
step=${3:-60}
dir=$(mktemp -d /var/tmp/kh-rss-XXXXXX)
trap 'kill $gp $tp $rp $ep 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT

rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo -; }

# a guest that never finishes its hot phase: 4096 hot pages, forever
"$build/khguest" --mem 64 --hot 4096 --cold 0 --rounds 100000000 --write-frac 0.25 \
	2> "$dir/guest.err" &
gp=$!
until grep -q ready "$dir/guest.err"; do sleep 0.1; done
"$build/kvmheat" top -b -j -d 1 -p "$gp" > /dev/null 2> "$dir/top.err" &
tp=$!
"$build/kvmheat" record -p "$gp" -F 1000 -o "$dir/a.data" 2> "$dir/rec.err" &
rp=$!
"$build/kvmheat" record --events -p "$gp" -F 1000 -o "$dir/e.data" 2> "$dir/ev.err" &
ep=$!
sleep 3
echo "| after | top -b RSS (KiB) | record RSS (KiB) | record --events RSS (KiB) | file sizes |"
echo "|---|---|---|---|---|"
for ((t = 0; t <= secs; t += step)); do
	echo "| ${t} s | $(rss $tp) | $(rss $rp) | $(rss $ep) |" \
	     "$(du -h "$dir/a.data" 2>/dev/null | cut -f1) / $(du -h "$dir/e.data" 2>/dev/null | cut -f1) |"
	[ "$t" -ge "$secs" ] || sleep "$step"
done
