#!/bin/bash
# `make bench`: kvmheat side by side with what an operator would use
# instead, on the same khguest workload, printed as a Markdown table.
# Figures are printed, never asserted.  Needs root, bpftrace and perf
# (apt-get install bpftrace linux-perf); rows whose tool is missing say so.
#
#   tools/bench.sh [BUILD_DIR] [REPEATS]
set -u
build=${1:-build}
reps=${2:-3}
kh=$build/kvmheat
guest=$build/khguest
work=$(mktemp -d /tmp/kh-bench.XXXXXX)
stats_old=$(cat /proc/sys/kernel/bpf_stats_enabled)
cleanup() {
	echo "$stats_old" > /proc/sys/kernel/bpf_stats_enabled
	pkill -P $$ 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
# 10240 data pages touched, 49152 guest accesses per run
gargs="--mem 256 --hot 2048 --cold 8192 --rounds 20 --seed 9"

# The bpftrace one-liner doing kvmheat's walk aggregation: stash the walk per
# thread, count the leaf gfn, and for writes the gfn and its 128-byte sub-page.
cat > "$work/agg.bt" <<'EOF'
tracepoint:kvmmmu:kvm_mmu_pagetable_walk { @pf[tid] = args->pferr; @ad[tid] = args->addr; }
tracepoint:kvmmmu:kvm_mmu_paging_element /args->level == 1 && (args->pte & 1)/ {
	$gfn = (args->pte & 0xffffffffff000) >> 12;
	@acc[pid, $gfn] = count();
	if (@pf[tid] & 2) {
		@wr[pid, $gfn] = count();
		@sub[pid, $gfn, (@ad[tid] & 0xfff) >> 7] = count();
	}
}
EOF

wait_line() { # file pattern
	for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}

# Start a paused guest as a child of this shell (so `wait` works); sets GP.
# Truth goes to $work/truth.json.
start_guest() {
	"$guest" --wait-signal --truth "$work/truth.json" $gargs > /dev/null 2> "$work/guest.err" &
	GP=$!
}

guest_ms() {
	python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["elapsed_ns"] / 1e6))' \
		"$work/truth.json"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# One guest run under a tracer: $1 = setup command run in the background
# (it must create $work/ready when attached), prints guest ms.
run_under() {
	local mode=$1 gp tp
	rm -f "$work/ready" "$work/tracer.err"
	start_guest
	gp=$GP
	wait_line "$work/guest.err" ready || { echo "guest did not start" >&2; return 1; }
	case $mode in
	none)
		touch "$work/ready" ;;
	kvmheat)
		"$kh" heat -j -p "$gp" -d 600 > "$work/heat.json" 2> "$work/tracer.err" &
		tp=$!
		wait_line "$work/tracer.err" tracing && touch "$work/ready" ;;
	record)
		"$kh" record --events -p "$gp" -o "$work/kh.data" 2> "$work/tracer.err" &
		tp=$!
		sleep 2; touch "$work/ready" ;;
	perf)
		perf record -q -a -o "$work/perf.data" -e kvmmmu:kvm_mmu_pagetable_walk \
			-e kvmmmu:kvm_mmu_paging_element -e kvm:kvm_page_fault \
			2> "$work/tracer.err" &
		tp=$!
		sleep 2; touch "$work/ready" ;;
	bpftrace)
		bpftrace "$work/agg.bt" > "$work/tracer.err" 2>&1 &
		tp=$!
		wait_line "$work/tracer.err" Attaching && sleep 0.5 && touch "$work/ready" ;;
	esac
	kill -USR1 "$gp"
	wait "$gp"
	guest_ms
	[ -n "${tp:-}" ] && { kill -INT "$tp" 2>/dev/null; wait "$tp" 2>/dev/null; }
	return 0
}

have() { command -v "$1" > /dev/null 2>&1; }
has_record() { "$kh" record -h > /dev/null 2>&1; }

echo "kvmheat benchmark, $(date -u +%Y-%m-%d), $(uname -r), $(nproc) CPUs; khguest $gargs;" \
     "median of $reps runs"
echo
echo "| measure | kvmheat | alternative | ratio (kvmheat / alternative) |"
echo "|---|---|---|---|"

# 1. Per-event BPF cost: kvmheat and the bpftrace one-liner attached to the same
#    tracepoints during the same guest run.
if have bpftrace; then
	echo 1 > /proc/sys/kernel/bpf_stats_enabled
	bpftrace "$work/agg.bt" > "$work/bt.err" 2>&1 &
	btp=$!
	wait_line "$work/bt.err" Attaching
	start_guest
	gp=$GP
	wait_line "$work/guest.err" ready
	"$kh" heat -j -p "$gp" -d 600 > "$work/heat.json" 2> "$work/kh.err" &
	khp=$!
	wait_line "$work/kh.err" tracing
	kill -USR1 "$gp"; wait "$gp"
	bpftool prog show -j > "$work/progs.json"
	kill -INT "$btp"; wait "$btp" 2>/dev/null
	wait "$khp"
	python3 - "$work/heat.json" "$work/progs.json" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
kc = h["bpf_cost"]
bt = [p for p in json.load(open(sys.argv[2]))
      if p.get("type") == "tracepoint" and p.get("name", "").startswith("kvm_mmu_pag")]
bn = sum(p.get("run_time_ns", 0) for p in bt)
br = sum(p.get("run_cnt", 0) for p in bt)
k = kc["run_time_ns"] / max(kc["runs"], 1)
b = bn / max(br, 1)
print(f"| BPF ns per tracepoint hit (walk + paging_element) | {k:.1f} ({kc['runs']} runs) "
      f"| bpftrace one-liner: {b:.1f} ({br} runs) | {k / b:.2f} |")
acc = h["stats"]["walk"]["counted"]
print(f"| BPF ns per guest access counted | {kc['run_time_ns'] / max(acc, 1):.1f} "
      f"| bpftrace: {bn / max(acc, 1):.1f} | {kc['run_time_ns'] / max(bn, 1):.2f} |")
PY
	echo 0 > /proc/sys/kernel/bpf_stats_enabled
else
	echo "| BPF ns per event | - | bpftrace not installed | - |"
fi

# 2. Guest slowdown: guest-measured run time, each as a ratio to untraced.
#    The modes take turns within each repeat, so load that drifts over the run
#    (this machine is shared) lands on all of them alike.
modes="none kvmheat"
have perf && modes="$modes perf"
have bpftrace && modes="$modes bpftrace"
has_record && modes="$modes record"
for _ in $(seq "$reps"); do
	for m in $modes; do
		run_under "$m" >> "$work/times.$m"
	done
done
med() { median < "$work/times.$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
base=$(med none)
t=$(med kvmheat)
echo "| guest run time, untraced | ${base} ms | - | 1.00 |"
echo "| guest run time, kvmheat heat (aggregation) | ${t} ms | untraced ${base} ms | $(ratio "$t" "$base") |"
if has_record; then
	r=$(med record)
	echo "| guest run time, kvmheat record --events | ${r} ms | untraced ${base} ms | $(ratio "$r" "$base") |"
else
	echo "| guest run time, kvmheat record --events | not measured: record not in this build | - | - |"
fi
if have perf; then
	p=$(med perf)
	echo "| guest run time, perf record -e (same tracepoints) | kvmheat record --events ${r:-?} ms | ${p} ms (untraced x$(ratio "$p" "$base")) | $(ratio "${r:-0}" "$p") |"
else
	echo "| guest run time, perf record | - | perf not installed | - |"
fi
if have bpftrace; then
	b=$(med bpftrace)
	echo "| guest run time, heat vs bpftrace one-liner | ${t} ms | ${b} ms (untraced x$(ratio "$b" "$base")) | $(ratio "$t" "$b") |"
fi

# 5. Map memory per GiB of tracked guest memory (kernel-accounted bytes).
"$build/mapmem" | awk -F'|' 'NR > 2 && ($2 ~ /^ (1|64|1024) GiB/) {
	for (i = 2; i <= 10; i++) gsub(/^ +| +$/, "", $i)
	printf "| BPF map memory, %s guest | %s total, %s per GiB | - | - |\n", $2, $9, $10 }'
