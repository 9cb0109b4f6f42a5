#!/bin/bash
# kvmheat beside DAMON's own view, in one rig run (printed, never asserted).
# Same guest (khguest: 256 hot pages touched every 700 ms, 1024 cold ones
# touched once), same interval: a kdamond that kvmheat did not start (vaddr
# ops on the guest's pid, one "stat" scheme so its regions can be read) runs
# for 6 s while `kvmheat idle` watches passively (it refuses to touch a
# DAMON that is not its own, and sees the aging DAMON makes KVM do). Then:
#   - DAMON's view: regions with nr_accesses > 0 (tried_regions), per 4 KiB page;
#   - kvmheat's view: pages of idle age 0;
# each against khguest's truth (precision and recall of the hot set), and the
# CPU each spent (kdamond's utime+stime; kvmheat's BPF run time).
#
#   tools/bench-damon.sh          (needs root, the rig's cache, python3)
set -u -o pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/kh-bench-damon.XXXXXX)
trap 'rm -rf "$work"' EXIT

cat > "$work/bd.sh" <<'EOF'
export PATH=/bin
echo 1 > /proc/sys/kernel/bpf_stats_enabled
khguest --wait-signal --truth /tmp/t.json --file /run/g.img --cgroup /bd --mem 16 --hot 256 \
	--cold 1024 --layout contiguous --rounds 40 --hot-phases 39 --pause-ms 700 \
	--write-frac 0.25 --cold-write-frac 0.25 --seed 7 2> /tmp/g.err &
gp=$!
while ! grep -q ready /tmp/g.err; do sleep 1; done
kill -USR1 $gp
sleep 1
D=/sys/kernel/mm/damon/admin/kdamonds
C=$D/0/contexts/0
echo 1 > $D/nr_kdamonds
echo 1 > $D/0/contexts/nr_contexts
echo vaddr > $C/operations
echo 5000 > $C/monitoring_attrs/intervals/sample_us
echo 100000 > $C/monitoring_attrs/intervals/aggr_us
echo 1000000 > $C/monitoring_attrs/intervals/update_us
echo 100 > $C/monitoring_attrs/nr_regions/min
echo 10000 > $C/monitoring_attrs/nr_regions/max
echo 1 > $C/targets/nr_targets
echo $gp > $C/targets/0/pid_target
echo 1 > $C/schemes/nr_schemes
echo stat > $C/schemes/0/action
# every region, whatever its size, access count and age (the defaults may be narrower)
P=$C/schemes/0/access_pattern
echo 0 > $P/sz/min; echo 18446744073709551615 > $P/sz/max
echo 0 > $P/nr_accesses/min; echo 4294967295 > $P/nr_accesses/max
echo 0 > $P/age/min; echo 4294967295 > $P/age/max
echo on > $D/0/state
kd=$(cat $D/0/pid)
echo "PROBE $(kvmheat probe 2>&1 | grep '^  damon')"
kvmheat idle -j -p $gp --scans 6 --interval 1 --min-age 0 --age-driver none > /tmp/idle.json 2> /tmp/idle.err
echo update_schemes_tried_regions > $D/0/state
sleep 1
for r in $C/schemes/0/tried_regions/[0-9]*; do
	echo "REGION $(cat $r/start) $(cat $r/end) $(cat $r/nr_accesses) $(cat $r/age)"
done
echo "KDAMOND $(cut -d' ' -f14,15 /proc/$kd/stat) 100"
echo off > $D/0/state
echo 0 > $D/nr_kdamonds
grep "idle cost" /tmp/idle.err | sed 's/^/COST /'
wait $gp
for f in idle.json t.json; do echo "FILE $f"; gzip -c /tmp/$f | base64; echo "ENDFILE"; done
EOF

echo "bench-damon: one rig boot (6.12, npt=1); about two minutes" >&2
"$top/tools/vmtest/run.sh" --kernel 6.12 --npt 1 --file "$work/bd.sh" -- sh bd.sh > "$work/out" ||
	{ cat "$work/out" >&2; echo "bench-damon: the rig run failed" >&2; exit 1; }
python3 - "$work/out" <<'EOF'
import base64, gzip, json, re, sys
out = open(sys.argv[1]).read().replace('\r', '')
def get(name):
    m = re.search(r'FILE %s\n(.*?)ENDFILE' % re.escape(name), out, re.S)
    return json.loads(gzip.decompress(base64.b64decode(m.group(1))))
truth, idle = get('t.json'), get('idle.json')['vms'][0]
data = next(s for s in truth['slots'] if s['name'] == 'data')
base, hva0 = truth['data_gpa'] >> 12, data['hva']
hot = {p['gfn'] for p in truth['pages'] if p['hot']}
touched = {p['gfn'] for p in truth['pages']}
def pr(pred):
    tp = len(pred & hot)
    return (tp / len(pred) if pred else 0.0), tp / len(hot)
# DAMON: regions with nr_accesses > 0, per page of the data slot
dam = set()
for line in re.findall(r'^REGION (\d+) (\d+) (\d+) (\d+)$', out, re.M):
    start, end, acc = int(line[0]), int(line[1]), int(line[2])
    if acc == 0:
        continue
    for a in range(max(start, hva0), min(end, hva0 + data['size']), 4096):
        dam.add(base + ((a - hva0) >> 12))
kh = set()
for r in idle['ranges']:
    if r['idle_age'] == 0:
        kh.update(g for g in range(r['gfn_start'], r['gfn_end'] + 1) if base <= g < base + (data['size'] >> 12))
kd = re.search(r'^KDAMOND (\d+) (\d+) (\d+)$', out, re.M)
cost = re.search(r'^COST .*bpf ([0-9.]+) ms/scan', out, re.M)
probe = re.search(r'^PROBE (.*)$', out, re.M)
print('kvmheat probe, with that kdamond running:', probe.group(1).strip() if probe else '?')
regs = re.findall(r"^REGION \d+ \d+ (\d+) ", out, re.M)
print("DAMON's snapshot: %d regions (100 ms aggregation, 5 ms samples), %d with nr_accesses > 0"
      % (len(regs), len([1 for a in regs if int(a)])))
print('kvmheat idle: driver %s, %d scans' % (idle['age_driver'], idle['scans']))
print('%-34s %9s %9s %7s %s' % ('view (4 KiB pages, data slot)', 'precision', 'recall', 'pages', 'CPU'))
p, r = pr(dam)
kcpu = (int(kd.group(1)) + int(kd.group(2))) * 1000 / int(kd.group(3)) if kd else float('nan')
print('%-34s %9.4f %9.4f %7d %s' % ('DAMON regions, nr_accesses > 0', p, r, len(dam),
      'kdamond %.0f ms over its whole run' % kcpu))
p, r = pr(kh)
print('%-34s %9.4f %9.4f %7d %s' % ('kvmheat per gfn, idle age 0', p, r, len(kh),
      'BPF %s ms/scan' % (cost.group(1) if cost else '?')))
print('(hot set %d pages; %d touched; the rest of the slot never touched)' % (len(hot), len(touched)))
EOF
