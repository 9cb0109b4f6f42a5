#!/bin/bash
# Recording cost, side by side in one run: `kvmheat record --events` against
# `perf record -e` on the same tracepoints (kvmmmu:kvm_mmu_pagetable_walk,
# kvmmmu:kvm_mmu_paging_element, kvm:kvm_page_fault) for the same khguest
# workload (same arguments and seed, one run each); then how fast each tool
# reads its file back, and how long report and heatmap take on a synthetic
# recording of a 1 TiB guest.  A measurement: prints figures, asserts nothing.
#
#   sudo tools/bench-record.sh [BUILD] [khguest args...]
#
# Needs root, /dev/kvm and perf (apt-get install linux-perf).
set -eu
build=$(realpath "${1:-build}")
shift 2>/dev/null || true
gargs=${*:-"--mem 256 --hot 4096 --cold 8192 --rounds 20 --seed 9"}
dir=$(mktemp -d /var/tmp/kh-bench-XXXXXX)
gp=
trap '[ -n "$gp" ] && kill "$gp" 2>/dev/null; rm -rf "$dir"' EXIT
hz=$(getconf CLK_TCK)
command -v perf > /dev/null || { echo "bench-record: perf is missing (apt-get install linux-perf)"; exit 5; }

# CPU seconds (user + sys) a live process has used so far.
cpu_now() { awk -v hz="$hz" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }

# khguest held until SIGUSR1; sets $gp.
start_guest() {
	# shellcheck disable=SC2086
	"$build/khguest" --wait-signal $gargs 2> "$dir/guest.err" &
	gp=$!
	until grep -q ready "$dir/guest.err"; do sleep 0.05; done
}

# run_recorder NAME CMD...: CMD records the held guest; the guest is released
# once CMD is attached (kvmheat says "recording"; perf gets two seconds).
# Leaves "cpu_while_guest_ran cpu_total" in $dir/NAME.cpu.
run_recorder() {
	local name=$1 tp rp c0 u s
	shift
	/usr/bin/time -f "%U %S" -o "$dir/$name.time" "$@" 2> "$dir/$name.err" &
	tp=$!
	until rp=$(pgrep -P "$tp"); do sleep 0.02; done
	if [ "$name" = kvmheat ]; then
		until grep -q recording "$dir/$name.err"; do sleep 0.05; done
	else
		sleep 2
	fi
	c0=$(cpu_now "$rp")
	kill -USR1 "$gp"
	wait "$gp" || true
	gp=
	wait "$tp" || true
	read -r u s < "$dir/$name.time"
	echo "$(echo "$u + $s - $c0" | bc -l) $(echo "$u + $s" | bc -l)" > "$dir/$name.cpu"
}

elapsed() { # CMD...: wall seconds
	local t0 t1
	t0=$(date +%s.%N)
	"$@" > /dev/null
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
}

echo "workload: khguest $gargs"
start_guest
run_recorder kvmheat "$build/kvmheat" record --events -o "$dir/kh.data" -p "$gp"
start_guest
run_recorder perf perf record -q -e kvmmmu:kvm_mmu_pagetable_walk \
	-e kvmmmu:kvm_mmu_paging_element -e kvm:kvm_page_fault -p "$gp" -o "$dir/perf.data"

"$build/kvmheat" report -j -i "$dir/kh.data" > "$dir/kh.json"
kh_events=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["events"])' "$dir/kh.json")
kh_lost=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(x["stats"]["lost"] for x in d["sources"]))' "$dir/kh.json")
kh_bytes=$(stat -c %s "$dir/kh.data")
kh_parse=$(elapsed "$build/kvmheat" report -i "$dir/kh.data" --events --format csv)
# parsing alone: every chunk inflated and every event record decoded, summary out
kh_scan=$(elapsed "$build/kvmheat" report -i "$dir/kh.data")
perf script -i "$dir/perf.data" -F event 2> "$dir/perf.script.err" | sort | uniq -c \
	> "$dir/perf.counts"
perf_samples=$(awk '{ n += $1 } END { print n }' "$dir/perf.counts")
perf_walks=$(awk '/kvm_mmu_pagetable_walk/ { print $1 }' "$dir/perf.counts")
perf_bytes=$(stat -c %s "$dir/perf.data")
perf_parse=$(elapsed perf script -i "$dir/perf.data" 2> /dev/null)
perf_lost=$(cat "$dir/perf.err" "$dir/perf.script.err" | grep -o 'lost [0-9]* chunks' | head -1)
perf_lost=${perf_lost:-lost 0 chunks}
read -r kh_cpu kh_cpu_all < "$dir/kvmheat.cpu"
read -r perf_cpu perf_cpu_all < "$dir/perf.cpu"

python3 - "$kh_events" "$kh_bytes" "$kh_cpu" "$kh_cpu_all" "$kh_parse" "$kh_lost" "$kh_scan" \
	"$perf_samples" "$perf_walks" "$perf_bytes" "$perf_cpu" "$perf_cpu_all" "$perf_parse" \
	"$perf_lost" <<'PY'
import sys
a = sys.argv[1:]
ke, kb, kc, kca, kp, kl, ks = int(a[0]), int(a[1]), float(a[2]), float(a[3]), float(a[4]), a[5], float(a[6])
ps, pw, pb, pc, pca, pp, pl = int(a[7]), int(a[8]), int(a[9]), float(a[10]), float(a[11]), float(a[12]), a[13]
print()
print("| recording the same guest run | kvmheat record --events | perf record -e (same 3 tracepoints) | ratio |")
print("|---|---|---|---|")
print(f"| guest accesses recorded | {ke} | {pw} walks | - |")
print(f"| records in the file | {ke} | {ps} samples | - |")
print(f"| lost | {kl} events | {pl} | - |")
print(f"| recorder CPU while the guest ran | {kc:.2f} s | {pc:.2f} s | {kc / max(pc, 1e-9):.2f} |")
print(f"| recorder CPU incl. start-up | {kca:.2f} s | {pca:.2f} s | {kca / max(pca, 1e-9):.2f} |")
print(f"| file bytes per guest access | {kb / ke:.2f} | {pb / max(pw, 1):.2f} | {(kb / ke) / (pb / max(pw, 1)):.3f} |")
print(f"| file bytes per record | {kb / ke:.2f} | {pb / max(ps, 1):.2f} | {(kb / ke) / (pb / max(ps, 1)):.3f} |")
print(f"| parse only (report summary / -) | {ke / ks / 1e6:.2f} M events/s | - | - |")
print(f"| read back (report --events --format csv / perf script) | {ke / kp / 1e6:.2f} M events/s | {ps / pp / 1e6:.2f} M samples/s | {(ke / kp) / (ps / pp):.2f} |")
PY

# A recording shaped like a 1 TiB guest watched for an hour of 1 s epochs.
ep=${KH_SYNTH_EPOCHS:-3600} gf=${KH_SYNTH_GFNS:-10000} ev=${KH_SYNTH_EVENTS:-2000000}
"$build/synthrec" -o "$dir/big.data" --gib 1024 --epochs "$ep" --gfns "$gf" --events "$ev"
echo
echo "| synthetic 1 TiB guest, $ep epochs x $gf gfn entries, $ev events ($(du -h "$dir/big.data" | cut -f1)) | time |"
echo "|---|---|"
t=$(elapsed "$build/kvmheat" report -i "$dir/big.data" --events --format csv)
echo "| report --events --format csv | $t s, $(echo "($ep * $gf + $ev) / $t / 1000000" | bc -l | xargs printf %.1f) M records/s |"
echo "| report (text) | $(elapsed "$build/kvmheat" report -i "$dir/big.data") s |"
echo "| heatmap -o big.png | $(elapsed "$build/kvmheat" heatmap -i "$dir/big.data" -o "$dir/big.png") s |"
echo "| heatmap -o big.svg | $(elapsed "$build/kvmheat" heatmap -i "$dir/big.data" -o "$dir/big.svg") s |"
