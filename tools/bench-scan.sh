#!/bin/bash
# Benchmark (printed, never asserted) of what the live commands spend per
# scan on active-aging results, for the two ways kvmheat keeps them, side
# by side on one guest in one boot of the nested-kernel rig (Debian 6.12,
# kvm_amd npt=1, under TCG):
#
#   top -b --age-driver mglru    aging results in the kernel-side idle bits
#                                (bpf/idlebits.bpf.h), read-and-cleared once
#                                per scan (src/scan.c)
#   heat --age-driver mglru      the same results in per-gfn hash entries,
#                                folded each scan by kh_scan_fold_totals; once
#                                with the default table (4096 entries per GiB,
#                                16384 at least: past 7/8 full, a page found old
#                                gets no entry of its own) and once with
#                                --max-gfns of an entry per page plus a quarter
#
# Same guest, driver, scan interval and number of scans.  Per scan: the
# kvmheat process's CPU (user+system from /proc/PID/stat, all threads; it
# holds the MGLRU page-table walk, which runs in our write() to
# /sys/kernel/debug/lru_gen, and the BPF programs that walk triggers), the
# same command's CPU without a driver over the same time, and the BPF run
# time of the aging programs (kernel.bpf_stats_enabled=1; run_time_ns of
# kvmheat's prog fds, /proc/PID/fdinfo); and the BPF map memory (memlock
# of its map fds).  All read from the outside by tools/khsample.c, every
# 100 ms, so no run is measured differently from another.  The window is
# scans 2..1+N (the first scan only clears the bits of the initial faults,
# and makes heat's entries), from just before one scan's aging starts to
# just before the next-but-N's.
#
#   tools/bench-scan.sh [MiB]     (guest data size, default 256)
#
# Exit status 1 with a one-line reason when the rig run fails or any figure
# cannot be read; nothing is printed then that was not measured.
set -u -o pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mib=${1:-256}
scans=6		# measured scans per run (scans 2..7)
ivl=2		# --scan-interval, seconds
case $mib in '' | *[!0-9]*) echo "bench-scan: MiB must be a number, not '$mib'" >&2; exit 2 ;; esac
[ "$mib" -ge 32 ] || { echo "bench-scan: at least 32 MiB" >&2; exit 2; }
pages=$((mib * 256))
work=$(mktemp -d /tmp/kh-bench-scan.XXXXXX)
trap 'rm -rf "$work"' EXIT
die() {
	echo "bench-scan: $*" >&2
	exit 1
}
command -v python3 > /dev/null || die "python3 is needed on the host for the figures"
${CC:-cc} -O2 -Wall -static "$top/tools/khsample.c" -o "$work/khsample" 2> "$work/cc.err" ||
	die "cannot build tools/khsample.c statically: $(head -1 "$work/cc.err")"

# Long runs enough for 1 + scans + 1 scans even when a scan comes a second late.
long=$(((scans + 5) * ivl))
cat > "$work/bench.sh" <<EOF
export PATH=/bin
T=/tmp/khbench
mkdir -p \$T
fail() { echo "BENCH fail \$*"; kill \$gp 2> /dev/null; exit 1; }
# wait_for FILE TEXT SECONDS
wait_for() {
	i=0
	while ! grep -q "\$2" "\$1" 2> /dev/null; do
		i=\$((i + 1))
		[ \$i -gt \$((\$3 * 10)) ] && return 1
		usleep 100000
	done
}
echo 1 > /proc/sys/kernel/bpf_stats_enabled || fail "cannot enable kernel.bpf_stats_enabled"
# Every data page written once (a real page each: anonymous pages only read
# would be the zero page, never aged), then the hot set every 5 s for 315 s.
khguest --file /run/bench.img --cgroup /bench --mem $mib --hot 4096 --cold $((pages - 4096)) \\
	--cold-write-frac 1 --rounds 64 --hot-phases 63 --pause-ms 5000 2> \$T/guest.err &
gp=\$!
wait_for \$T/guest.err ready 120 || fail "khguest not ready: \$(tail -1 \$T/guest.err)"
# until its first phase has written the data slot (tmpfs: RssShmem), at most 120 s
i=0
while :; do
	kb=\$(awk '/^Rss(Shmem|File):/ { n += \$2 } END { print n + 0 }' /proc/\$gp/status)
	[ "\$kb" -ge $((pages * 4 * 95 / 100)) ] && break
	i=\$((i + 1))
	[ \$i -gt 1200 ] && fail "khguest wrote \$kb KiB of its data slot in 120 s"
	usleep 100000
done
sleep 1
kvmheat list -j -p \$gp > \$T/list.json 2> \$T/list.err || fail "kvmheat list: \$(tail -1 \$T/list.err)"
mem=\$(grep -o '"memory_bytes": *[0-9]*' \$T/list.json | head -1 | tr -dc 0-9)
[ -n "\$mem" ] || fail "no memory_bytes in kvmheat list -j"
echo "BENCH mem \$mem"
full=\$((mem / 4096 * 5 / 4))

# run NAME START_TEXT KVMHEAT_ARGS...: kvmheat sampled by khsample from its
# fork until it exits (top scans once before its start line), and the
# time of its start line on the same clock.
run() {
	n=\$1 s=\$2
	shift 2
	kvmheat "\$@" > \$T/\$n.out 2> \$T/\$n.err &
	kp=\$!
	./khsample \$kp 100 > \$T/\$n.smp 2> \$T/\$n.serr &
	sp=\$!
	wait_for \$T/\$n.err "\$s" 120 || { sed "s/^/BENCH log \$n: /" \$T/\$n.err | head -5;
		fail "\$n: kvmheat did not start"; }
	read up _ < /proc/uptime
	echo "BENCH \$n start \$up"
	wait \$kp
	st=\$?
	wait \$sp
	sst=\$?
	[ \$st = 0 ] || { sed "s/^/BENCH log \$n: /" \$T/\$n.err | tail -5; fail "\$n: kvmheat exit \$st"; }
	[ \$sst = 0 ] || fail "\$n: \$(cat \$T/\$n.serr)"
	kill -0 \$gp 2> /dev/null || fail "\$n: the guest exited before the run ended"
	grep -q "idle bits full\|passive aging\|scan failed" \$T/\$n.err &&
		fail "\$n: \$(grep -m1 'idle bits full\|passive aging\|scan failed' \$T/\$n.err)"
	sed "s/^/BENCH \$n /" \$T/\$n.smp
	echo "BENCH \$n cmd kvmheat \$*"
}
topw="kvmheat: top: watching"
heatw="kvmheat: tracing"
run top_passive "\$topw" top -b -j -d 1 -n 12 -p \$gp
run top "\$topw" top -b -j -d 1 -n $long -p \$gp --age-driver mglru --scan-interval $ivl
# the last line's idle summary: scans and pages with an age
l=\$(tail -1 \$T/top.out)
echo "BENCH top idle \$(echo "\$l" | grep -o '"age_driver": *"[a-z_]*"' | cut -d'"' -f4)" \\
	"\$(echo "\$l" | grep -o '"scans": *[0-9]*' | tr -dc 0-9)" \\
	"\$(echo "\$l" | grep -o '"pages_aged": *[0-9]*' | tr -dc 0-9)"
run heat_passive "\$heatw" heat -d 12 -p \$gp
run heat "\$heatw" heat -d $long -p \$gp --age-driver mglru --scan-interval $ivl
run heat_full "\$heatw" heat -d $long -p \$gp --age-driver mglru --scan-interval $ivl --max-gfns \$full
for n in heat heat_full; do
	# "VM N idle: driver D, K scan(s) S s apart, P pages with an idle age, ..."
	echo "BENCH \$n idle \$(sed -n 's/^VM [0-9]* idle: driver \([a-z_]*\), \([0-9]*\) scan(s) .*, \([0-9]*\) pages with an idle age.*/\1 \2 \3/p' \$T/\$n.out)"
done
kill \$gp
echo "BENCH done"
EOF

echo "bench-scan: ${mib} MiB guest in the rig (6.12, npt=1), MGLRU every $ivl s, $scans scans measured per run" >&2
t0=$(date +%s)
out=$("$top/tools/vmtest/run.sh" --kernel 6.12 --npt 1 --file "$work/bench.sh" --file "$work/khsample" \
	-- sh bench.sh)
st=$?
wall=$(($(date +%s) - t0))
if [ $st != 0 ] || ! grep -q '^BENCH done$' <<< "$out"; then
	grep '^BENCH log' <<< "$out" >&2
	reason=$(grep -m1 '^BENCH fail' <<< "$out" | cut -d' ' -f3-)
	die "the rig run failed (status $st): ${reason:-see the output above}"
fi
keep=/tmp/kh-bench-scan.$(date +%Y%m%d-%H%M%S).out
grep '^BENCH' <<< "$out" > "$keep"
echo "bench-scan: the rig's lines (every sample) are in $keep" >&2

python3 - "$keep" "$mib" "$scans" "$ivl" "$wall" <<'PY'
import statistics, sys

path, mib, N, ivl, wall = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                            int(sys.argv[4]), sys.argv[5])

def die(msg):
    print(f"bench-scan: {msg} (the rig's lines: {path})", file=sys.stderr)
    sys.exit(1)

runs, mem = {}, None
for line in open(path):
    w = line.split()
    if len(w) < 2 or w[1] in ("done", "log"):
        continue
    if w[1] == "mem":
        mem = int(w[2])
        continue
    r = runs.setdefault(w[1], {"S": [], "P": [], "M": [], "idle": None, "cmd": None,
                               "start": None})
    k = w[2]
    try:
        if k == "S":
            r["S"].append(tuple(float(x) for x in w[3:10]))
        elif k == "P":
            r["P"].append((w[4], int(w[5]), int(w[6]), w[7] == "1"))
        elif k == "M":
            r["M"].append((w[4], int(w[5]), int(w[6]), int(w[7])))
        elif k == "idle":
            if len(w) != 6:
                die(f"{w[1]}: no idle summary in kvmheat's output: {line.strip()}")
            r["idle"] = (w[3], int(w[4]), int(w[5]))
        elif k == "start":
            r["start"] = float(w[3]) * 1e3
        elif k == "cmd":
            r["cmd"] = " ".join(w[3:])
    except (ValueError, IndexError):
        die(f"cannot parse: {line.strip()}")
if not mem:
    die("no guest memory size from kvmheat list")
gib = mem / 2**30
names = ["top", "heat", "heat_full"]
for n in names + ["top_passive", "heat_passive"]:
    if n not in runs or len(runs[n]["S"]) < 20 or not runs[n]["M"] or not runs[n]["cmd"] \
            or runs[n]["start"] is None:
        die(f"{n}: too few samples, no objects from khsample or no start time")

def window_passive(r):
    """CPU ms per second over 8 s from 2 s after the start line."""
    S = r["S"]
    t0 = r["start"] + 2000
    a = next((s for s in S if s[0] >= t0), None)
    b = [s for s in S if a and s[0] <= a[0] + 8000]
    if not a or not b or b[-1][0] - a[0] < 6000:
        die("a passive run was too short to measure")
    b = b[-1]
    dt = (b[0] - a[0]) / 1e3
    return ((b[1] + b[2]) - (a[1] + a[2])) / dt

def bursts(S):
    """Per burst of aging runs (quiet for 0.8 s before it): the index of the
    last sample before it starts, and its runs."""
    out, last = [], None
    for i in range(1, len(S)):
        if S[i][3] > S[i - 1][3]:
            if last is None or S[i][0] - S[last][0] > 800:
                out.append([i - 1, 0])
            out[-1][1] += S[i][3] - S[i - 1][3]
            last = i
    return out

res = {}
for n in names:
    r = runs[n]
    S = r["S"]
    drv, rep_scans, aged_pages = r["idle"] or die(f"{n}: no idle summary")
    if drv != "mglru":
        die(f"{n}: driver {drv}, not mglru")
    b = bursts(S)
    if not b:
        die(f"{n}: no aging runs counted")
    # One walk ages every resident page once, so a burst of k times a walk's
    # runs is k scans that came too close to tell apart by time.
    # (the last burst may have been cut short by the exit: it is only counted)
    per = statistics.median_low([x[1] for x in b])
    walks = [max(1, round(x[1] / per)) for x in b]
    if any(abs(x[1] - k * per) > 0.1 * per for x, k in zip(b[:-1], walks)):
        die(f"{n}: aging runs per burst {[x[1] for x in b]} are not whole walks of {per:.0f}")
    # khsample runs from before kvmheat's start-up, and a walk outlasts a
    # sample period, so only a scan just before the exit can go unseen
    if sum(walks) > rep_scans or sum(walks) < rep_scans - 1:
        die(f"{n}: {sum(walks)} walks seen ({[x[1] for x in b]} runs), but kvmheat "
            f"reported {rep_scans} scans")
    # The window: from just before a burst after the first scan to just before
    # the burst that makes N scans, the earliest one that does.
    w = None
    for i in range(1, len(b)):
        if sum(walks[:i]) < 1:
            continue
        for j in range(i + 1, len(b)):
            if sum(walks[i:j]) == N:
                w = (b[i][0], b[j][0])
            if sum(walks[i:j]) >= N:
                break
        if w:
            break
    if not w:
        die(f"{n}: no window of {N} scans among bursts of {walks} walks")
    a, z = S[w[0]], S[w[1]]
    period = (z[0] - a[0]) / 1e3 / N
    user, sys_ = (z[1] - a[1]) / N, (z[2] - a[2]) / N
    cpu = user + sys_
    passive = window_passive(runs[n.split("_")[0] + "_passive"]) * period
    bpf_age = (z[4] - a[4]) / 1e6 / N
    bpf_all = (z[6] - a[6]) / 1e6 / N
    if bpf_age <= 0:
        die(f"{n}: no BPF run time counted (kernel.bpf_stats_enabled?)")
    res[n] = dict(period=period, user=user, sys=sys_, cpu=cpu, passive=passive,
                  aging=cpu - passive, bpf_age=bpf_age, bpf_all=bpf_all,
                  runs=(z[3] - a[3]) / N, aged_pages=aged_pages, scans=rep_scans,
                  bursts=len(b), merged=sum(k > 1 for k in walks))

label = {"top": "top -b (idle bits)", "heat": "heat (hash, default table)",
         "heat_full": "heat (hash, entry per page)"}
print(f"""kvmheat live aging cost per scan, nested rig: Debian 6.12 under QEMU TCG, kvm_amd npt=1
khguest {mib} MiB data ({mem / 2**20:.1f} MiB of VM memory, every page written once), MGLRU
driver every {ivl} s, scans 2..{N + 1} of each run; rig run {wall} s wall.
TCG emulates every instruction: these timings say nothing absolute about real
hardware. Compare the rows with each other, not with native figures.
CPU = the kvmheat process's user+sys (/proc/PID/stat), which already holds the
MGLRU walk in its write() and the BPF programs it triggers; passive = the same
command without --age-driver over the same time; aging = CPU - passive.
BPF = run_time_ns of the aging programs (bpf_stats), a part of sys, not extra.
pages aged/scan = runs of the aging programs (one 4 KiB page each here);
pages w/ age = pages with an idle age in kvmheat's own summary at its end.
CPU comes in clock ticks (10 ms on x86): about +-{10 / N:.1f} ms per scan.
""")
hdr = ("path", "pages aged/scan", "pages w/ age", "s/scan", "CPU ms", "user", "sys",
       "passive", "aging ms", "BPF aging", "BPF all", "aging ms/GiB")
print("| " + " | ".join(hdr) + " |")
print("|" + "---|" * len(hdr))
for n in names:
    x = res[n]
    print(f"| {label[n]} | {x['runs']:.0f} | {x['aged_pages']} | {x['period']:.2f} | "
          f"{x['cpu']:.0f} | {x['user']:.0f} | {x['sys']:.0f} | {x['passive']:.0f} | "
          f"{x['aging']:.0f} | {x['bpf_age']:.1f} | {x['bpf_all']:.1f} | {x['aging'] / gib:.0f} |")
print()
print("BPF map memory (memlock of kvmheat's map fds, each map's last reading while it was held);")
print(f"per GiB of the {mem / 2**20:.1f} MiB VM (below 16 GiB most maps sit at fixed floors):")
print()
hdr = ("path", "all maps KiB", "per GiB KiB", "idle bits KiB (VM arrays, outer, descriptors)",
       "gfns KiB (entries)",
       "regions KiB", "subpages KiB", "age_stash KiB")
print("| " + " | ".join(hdr) + " |")
print("|" + "---|" * len(hdr))
for n in names:
    M = {m[0]: m for m in runs[n]["M"]}
    # idle_bits (the array of arrays) exists only with a driver; each VM's
    # array in it is a map of its own, named kh_idle_words
    for k in ("gfns", "regions", "subpages", "idle_slots", "age_stash"):
        if k not in M:
            die(f"{n}: no map {k} among kvmheat's fds")
    tot = sum(m[3] for m in runs[n]["M"])
    kib = lambda k: M[k][3] / 1024
    bits = sum(m[3] for m in runs[n]["M"]
               if m[0] in ("idle_bits", "idle_slots", "kh_idle_words")) / 1024
    print(f"| {label[n]} | {tot / 1024:.0f} | {tot / 1024 / gib:.0f} | "
          f"{bits:.0f} | {kib('gfns'):.0f} ({M['gfns'][2]}) | "
          f"{kib('regions'):.0f} | {kib('subpages'):.0f} | {kib('age_stash'):.0f} |")
print()
for n in names:
    x = res[n]
    print(f"{label[n]}: {runs[n]['cmd']} ({x['scans']} scans in all; {x['bursts']} bursts of "
          f"aging, {x['merged']} of them two or more scans back to back)")
PY
