#!/bin/sh
# Per-event BPF cost of kvmheat on this machine: enable kernel.bpf_stats_enabled,
# trace a khguest run with `kvmheat heat -j`, and print run_time_ns / run_cnt
# over kvmheat's programs, and per guest access counted.  Restores the sysctl.
# A measurement: it prints figures and asserts nothing.
set -eu
build=${1:-build}
shift 2>/dev/null || true
old=$(cat /proc/sys/kernel/bpf_stats_enabled)
err=$(mktemp) out=$(mktemp)
trap 'echo "$old" > /proc/sys/kernel/bpf_stats_enabled; rm -f "$err" "$out"; kill "${gp:-}" 2>/dev/null || true' EXIT
echo 1 > /proc/sys/kernel/bpf_stats_enabled
"$build/khguest" --wait-signal --mem 256 --hot 2048 --cold 8192 --rounds 20 "$@" 2> "$err" &
gp=$!
until grep -q ready "$err"; do sleep 0.1; done
( until grep -q tracing "$err"; do sleep 0.1; done; kill -USR1 "$gp" ) &
"$build/kvmheat" heat -j -p "$gp" -d 120 > "$out" 2>> "$err"
python3 - "$out" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
c, w = h["bpf_cost"], h["stats"]["walk"]
print(f"program runs     {c['runs']}")
print(f"run time         {c['run_time_ns'] / 1e6:.1f} ms")
print(f"ns per run       {c['run_time_ns'] / max(c['runs'], 1):.1f}")
print(f"accesses counted {w['counted']} (walk leaves: one per guest access)")
print(f"ns per access    {c['run_time_ns'] / max(w['counted'], 1):.1f} "
      "(its walk event plus every paging-element event)")
print(f"map memory       {h['maps']['memlock_bytes']} bytes")
PY
