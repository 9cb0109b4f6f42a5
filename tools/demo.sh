#!/bin/sh
# The README's demo: start the bundled khguest with a hot band, a scattered
# hot set and some written pages, trace it with kvmheat heat, show the result.
set -eu
build=${1:-build}
err=$(mktemp)
trap 'rm -f "$err"; kill "${gp:-}" 2>/dev/null || true' EXIT

"$build/khguest" --wait-signal --mem 64 --hot 384 --cold 3072 --rounds 24 \
	--write-frac 0.25 --layout contiguous --offset random --seed 42 2> "$err" &
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
"$build/kvmheat" heat -p "$gp" -d 30 -n 12 2>> "$err" || { cat "$err" >&2; exit 1; }
