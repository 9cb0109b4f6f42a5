#!/bin/bash
# What the live views cost on this machine.  A measurement: it prints
# figures side by side and asserts nothing.  Needs root and /dev/kvm.
#
#  1. BPF cost per event of `kvmheat trace`, in-kernel filter off (every
#     event goes to the ring buffer; with a reader wakeup per event, and
#     per 64 KiB, the default) and on (--gfn of one page: all but that
#     page's events are dropped before bpf_ringbuf_reserve), with
#     `kvmheat heat` (per-gfn maps, no ring buffer) for reference.  Same
#     khguest workload each time; kernel.bpf_stats_enabled=1 and
#     run_time_ns / run_cnt over kvmheat's own programs (restored after).
#  2. CPU and memory of `kvmheat top -d 1`: the terminal UI in a tmux pane
#     and batch mode, each for DURATION seconds (default 60) while a guest
#     keeps 4096 pages hot: utime+stime from /proc/PID/stat, VmRSS at the
#     start and the end of the window.
#
# Usage: sudo tools/live-cost.sh [BUILD_DIR]     (DURATION=60 by default)
set -eu
build=${1:-build}
dur=${DURATION:-60}
tmp=$(mktemp -d /tmp/kh-live-cost-XXXXXX)
old=$(cat /proc/sys/kernel/bpf_stats_enabled)
sock=kh-live-cost-$$
gp= kp=
cleanup() {
	echo "$old" > /proc/sys/kernel/bpf_stats_enabled
	[ -n "$gp" ] && kill "$gp" 2> /dev/null || true
	[ -n "$kp" ] && kill -INT "$kp" 2> /dev/null && wait "$kp" 2> /dev/null || true
	tmux -L "$sock" kill-server 2> /dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
echo 1 > /proc/sys/kernel/bpf_stats_enabled

# Start a guest and wait until it is ready and paused; its pid is in $gp.
guest() {
	: > "$tmp/guest.err"
	"$build/khguest" --wait-signal "$@" 2> "$tmp/guest.err" &
	gp=$!
	until grep -q ready "$tmp/guest.err"; do sleep 0.1; done
}

# $1: name; the rest: the kvmheat command.  Releases the guest once kvmheat
# is attached, stops kvmheat (SIGINT) once the guest is done; kvmheat's
# stdout goes to $tmp/$1.json.  All VMs are traced, not -p: then every
# event takes the same path whichever other VMs run on the machine, and
# the averages compare.
traced() {
	local name=$1
	shift
	guest --mem 64 --hot 2048 --cold 4096 --rounds 20 --layout contiguous --write-frac 0.25
	: > "$tmp/kh.err"
	"$build/kvmheat" "$@" > "$tmp/$name.json" 2> "$tmp/kh.err" &
	kp=$!
	until grep -q tracing "$tmp/kh.err"; do sleep 0.1; done
	kill -USR1 "$gp"
	if ! wait "$gp"; then
		echo "khguest failed:" >&2
		cat "$tmp/guest.err" >&2
		exit 1
	fi
	gp=
	kill -INT "$kp"
	wait "$kp"
	kp=
}

traced wake trace -j --histogram --wakeup 0
traced off trace -j --histogram
traced on trace -j --histogram --gfn 0x40005
traced heat heat -j -d 120

python3 - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
def last(name):
    return json.loads(open(f"{d}/{name}.json").read().strip().splitlines()[-1]) \
        if name != "heat" else json.load(open(f"{d}/heat.json"))
wake, off, on, heat = last("wake"), last("off"), last("on"), last("heat")
rows = []
for name, j in (("off, wake/ev", wake), ("filter off", off), ("filter on", on)):
    c, w = j["bpf_cost"], j["sources"]["walk"]
    rows.append((name, c["runs"], c["run_time_ns"], w["events"], w["emitted"],
                 w["event_filtered"]))
c, w = heat["bpf_cost"], heat["stats"]["walk"]
rows.append(("heat (maps)", c["runs"], c["run_time_ns"], w["events"], 0, 0))
print("BPF cost per event (khguest: 2048 hot pages x 20 rounds, 4096 cold; walk on "
      + heat["sources"][3]["hooks"].split(",")[0] + ")")
print(f"{'':14}{'runs':>10}{'ns/run':>9}{'walk events':>13}{'ns/event':>10}"
      f"{'emitted':>10}{'dropped':>10}")
for name, runs, ns, ev, em, fl in rows:
    print(f"{name:14}{runs:>10}{ns / max(runs, 1):>9.1f}{ev:>13}{ns / max(ev, 1):>10.1f}"
          f"{em:>10}{fl:>10}")
print("  ns/event: all of kvmheat's program time over walk events (one per guest access")
print("  in any VM; it includes the walk-start and page-table-level runs each access")
print("  also costs).  emitted/dropped: events put on / kept off the ring buffer.")
print("  'off, wake/ev': no filter and --wakeup 0 (a reader wakeup per event); the")
print("  others wake the reader per 64 KiB waiting (trace's default).")
PY

# ---- top's own CPU and memory ----
ticks=$(getconf CLK_TCK)
guest --mem 64 --hot 4096 --cold 0 --rounds 100000000 --layout contiguous --write-frac 0.25
kill -USR1 "$gp"

# $1: pid; prints "cpu_ticks rss_kib"
sample() {
	local f
	read -r -a f < <(sed 's/^.*) //' "/proc/$1/stat")
	echo "$((f[11] + f[12])) $(awk '/^VmRSS/ {print $2}' "/proc/$1/status")"
}

# $1: label, $2: pid of a running top
measure() {
	local a b
	sleep 5	# past start-up and probing
	a=$(sample "$2")
	sleep "$dur"
	b=$(sample "$2")
	set -- "$1" $a $b
	awk -v l="$1" -v c0="$2" -v r0="$3" -v c1="$4" -v r1="$5" -v t="$ticks" -v d="$dur" \
		'BEGIN { printf "%-22s %6.2f%% of a CPU (%d ticks in %d s)   VmRSS %d -> %d KiB\n",
			 l, 100 * (c1 - c0) / t / d, c1 - c0, d, r0, r1 }'
}

echo
echo "kvmheat top -d 1 over $dur s (guest: 4096 hot pages, 25% written, running throughout)"
tmux -L "$sock" new-session -d -x 120 -y 45 "exec $build/kvmheat top -d 1"
tp=$(tmux -L "$sock" list-panes -F '#{pane_pid}')
measure "terminal UI (tmux)" "$tp"
tmux -L "$sock" send-keys q
sleep 1
"$build/kvmheat" top -b -j -d 1 > "$tmp/batch.json" 2> /dev/null &
kp=$!
measure "batch (-b -j)" "$kp"
kill -INT "$kp"
wait "$kp" || true
kp=
python3 - "$tmp/batch.json" "$gp" <<'PY'
import json, sys
rates = [v["accesses_per_s"] for l in open(sys.argv[1]) for v in json.loads(l)["vms"]
         if v["pid"] == int(sys.argv[2])]
if rates:
    print(f"guest load meanwhile: {sum(rates) / len(rates):.0f} accesses/s, "
          f"working set {4096} hot pages")
PY
