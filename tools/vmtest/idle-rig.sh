#!/bin/sh
# Runs inside the nested-kernel rig (tools/vmtest/run.sh --file THIS -- sh
# idle-rig.sh), on Debian 6.12 with kvm_amd npt=1: kvmheat idle against
# khguest with a hot and a cold set, no memory pressure, through the MGLRU
# and DAMON drivers, kvmheat top, record (+ report) and heat with
# --age-driver mglru, and the cleanup cases.  It judges nothing about ages
# itself: it hands the files to tests/test_vmidle.c (one section each,
# gzip + base64), which compares them with khguest's truth.  Only the
# cleanup checks, which need the guest's live state, print
#   KHIDLE result CHECK pass|fail FIGURES
# here.  Sections: KHIDLE file NAME ... KHIDLE endfile NAME.
export PATH=/bin
T=/tmp/khidle
mkdir -p $T
K=${KHIDLE_SCANS:-6}

emit() {
	echo "KHIDLE file $1"
	gzip -c "$2" | base64
	echo "KHIDLE endfile $1"
}

result() {
	echo "KHIDLE result $1 $2 $3"
}

# wait_for FILE TEXT SECONDS
wait_for() {
	i=0
	while ! grep -q "$2" "$1" 2> /dev/null; do
		i=$((i + 1))
		[ $i -gt $(($3 * 10)) ] && return 1
		usleep 100000
	done
}

kdamonds() {
	n=0
	for c in /proc/[0-9]*/comm; do
		case $(cat $c 2> /dev/null) in kdamond*) n=$((n + 1)) ;; esac
	done
	echo $n
}

vmstat() {
	grep -E '^(pswpout|pswpin|pgsteal_anon|pgsteal_file|workingset_[a-z_]*) ' /proc/vmstat
}

echo "scans $K" > $T/params
kvmheat probe -j > $T/probe.json 2> $T/probe.err
emit probe.json $T/probe.json

# ---- the guest: hot set touched every 700 ms for ~45 s, cold set once ----
# tmpfs-backed data slot: every touched page is a real page (a read of
# untouched anonymous memory would map the zero page, which is never aged).
khguest --wait-signal --truth $T/truth.json --file /run/khidle.img --cgroup /khidle \
	--mem 16 --hot 256 --cold 1024 --layout contiguous --rounds 64 --hot-phases 63 \
	--pause-ms 700 --write-frac 0.25 --cold-write-frac 0.25 --seed 7 2> $T/guest.err &
gp=$!
wait_for $T/guest.err ready 30 || { cat $T/guest.err; exit 1; }
kill -USR1 $gp
sleep 1

# ---- MGLRU, with what reclaim would move recorded around it -------------
vmstat > $T/vmstat.before
grep -E '^(VmRSS|RssAnon|RssFile|RssShmem)' /proc/$gp/status > $T/rss.before
kvmheat idle -j -p $gp --scans $K --interval 1 --min-age 0 --age-driver mglru \
	> $T/mglru.json 2> $T/mglru.err
echo "status $?" >> $T/mglru.err
vmstat > $T/vmstat.after
grep -E '^(VmRSS|RssAnon|RssFile|RssShmem)' /proc/$gp/status > $T/rss.after
for f in mglru.json mglru.err vmstat.before vmstat.after rss.before rss.after; do
	emit $f $T/$f
done

# ---- DAMON on the same guest, same interval ------------------------------
kvmheat idle -j -p $gp --scans $K --interval 1 --min-age 0 --age-driver damon \
	> $T/damon.json 2> $T/damon.err
echo "status $?" >> $T/damon.err
emit damon.json $T/damon.json
emit damon.err $T/damon.err

# ---- top with the MGLRU driver on the same guest: its per-VM summary ------
kvmheat top -b -j -n 7 -d 1 -p $gp --age-driver mglru > $T/top.json 2> $T/top.err
echo "status $?" >> $T/top.err
emit top.json $T/top.json
emit top.err $T/top.err

wait $gp
echo "guest status $?" >> $T/guest.err
emit truth.json $T/truth.json
emit guest.err $T/guest.err
# ---- record and heat with the MGLRU driver, on a second guest like the first
khguest --wait-signal --truth $T/truth2.json --file /run/khidle2.img --cgroup /khidle2 \
	--mem 16 --hot 256 --cold 1024 --layout contiguous --rounds 64 --hot-phases 63 \
	--pause-ms 700 --write-frac 0.25 --cold-write-frac 0.25 --seed 7 2> $T/guest2.err &
gp=$!
wait_for $T/guest2.err ready 30 || { cat $T/guest2.err; exit 1; }
kill -USR1 $gp
sleep 1
kvmheat record -d 8 -F 1000 -p $gp --age-driver mglru -o $T/rec.data > /dev/null 2> $T/rec.err
echo "status $?" >> $T/rec.err
kvmheat report -i $T/rec.data -j > $T/rec.json 2>> $T/rec.err
kvmheat heat -j -d 8 -p $gp --age-driver mglru --ws-scans 2 > $T/heat.json 2> $T/heat.err
echo "status $?" >> $T/heat.err
wait $gp
for f in rec.data rec.json rec.err heat.json heat.err truth2.json; do
	emit $f $T/$f
done

n=$(kdamonds)
[ "$n" = 0 ] && [ ! -e /run/kvmheat/damon.owner ] &&
	result damon_cleanup pass "after a full run: kdamonds=0, no record" ||
	result damon_cleanup fail "after a full run: kdamonds=$n, record $(ls /run/kvmheat 2>&1)"

# ---- SIGINT mid-scan: nothing of ours left running -------------------------
# A second guest that lives long enough for the three fault cases.
khguest --mem 4 --hot 64 --cold 64 --rounds 64 --hot-phases 63 --pause-ms 3000 \
	--file /run/khidle3.img 2> $T/long.err &
gp=$!
wait_for $T/long.err ready 30 || { cat $T/long.err; exit 1; }
kvmheat idle -p $gp --scans 1000 --interval 1 --age-driver damon > $T/int.out 2> $T/int.err &
kp=$!
wait_for $T/int.err "scan(s) of VM" 30
sleep 2
during=$(kdamonds)
kill -INT $kp
wait $kp
st=$?
after=$(kdamonds)
nr=$(cat /sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds)
if [ "$during" = 1 ] && [ "$after" = 0 ] && [ "$nr" = 0 ] && [ $st = 0 ] &&
   [ ! -e /run/kvmheat/damon.owner ] && grep -q "stopped by a signal" $T/int.err; then
	result sigint_damon pass "kdamonds during=$during after=$after nr_kdamonds=$nr status=$st"
else
	result sigint_damon fail "kdamonds during=$during after=$after nr_kdamonds=$nr status=$st"
	sed 's/^/KHIDLE log: /' $T/int.err
fi

kvmheat idle -p $gp --scans 1000 --interval 1 --age-driver mglru > $T/int2.out 2> $T/int2.err &
kp=$!
wait_for $T/int2.err "scan(s) of VM" 30
sleep 2
kill -INT $kp
wait $kp
st=$?
if [ $st = 0 ] && grep -q "stopped by a signal" $T/int2.err && grep -q "^VM $gp" $T/int2.out &&
   grep -q "^memcg" /sys/kernel/debug/lru_gen; then
	result sigint_mglru pass "status=$st, partial ranges printed, lru_gen intact"
else
	result sigint_mglru fail "status=$st"
	sed 's/^/KHIDLE log: /' $T/int2.err
fi

# ---- SIGKILL mid-scan: the next start finds our kdamond and removes it ----
kvmheat idle -p $gp --scans 1000 --interval 1 --age-driver damon > /dev/null 2> $T/kill.err &
kp=$!
wait_for $T/kill.err "scan(s) of VM" 30
sleep 1
kill -KILL $kp
wait $kp
left=$(kdamonds)
rec=$(cat /run/kvmheat/damon.owner 2> /dev/null)
kvmheat probe > $T/probe2.out 2>&1
after=$(kdamonds)
nr=$(cat /sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds)
if [ "$left" = 1 ] && [ -n "$rec" ] && [ "$after" = 0 ] && [ "$nr" = 0 ] &&
   grep -q "removed kdamond" $T/probe2.out && [ ! -e /run/kvmheat/damon.owner ]; then
	result sigkill_damon pass "left=$left ($rec), next start: $(grep -o 'removed kdamond.*' $T/probe2.out)"
else
	result sigkill_damon fail "left=$left record='$rec' after=$after nr_kdamonds=$nr"
	sed 's/^/KHIDLE log: /' $T/probe2.out | tail -8
fi
kill $gp
wait $gp

# ---- THP-backed guest memory: KVM maps and ages 2 MiB at a time -----------
# Anonymous memory with MADV_HUGEPAGE; every page written (a read would map
# the huge zero page, never aged); contiguous: the hot set fills whole 2 MiB
# regions.  idle keeps one state per region (never per-page ages it did not see).
echo madvise > /sys/kernel/mm/transparent_hugepage/enabled
khguest --wait-signal --truth $T/thp.truth.json --thp --cgroup /khthp --mem 32 \
	--hot 1024 --cold 2048 --layout contiguous --rounds 24 --hot-phases 23 \
	--pause-ms 700 --write-frac 1 --cold-write-frac 1 --seed 5 2> $T/thp.guest.err &
tp=$!
wait_for $T/thp.guest.err ready 30 || { cat $T/thp.guest.err; exit 1; }
kill -USR1 $tp
sleep 2
grep AnonHugePages /proc/$tp/smaps_rollup > $T/thp.smaps
kvmheat idle -j -p $tp --scans $K --interval 1 --min-age 0 --age-driver mglru \
	> $T/thp.json 2> $T/thp.err
echo "status $?" >> $T/thp.err
wait $tp
echo never > /sys/kernel/mm/transparent_hugepage/enabled
for f in thp.truth.json thp.json thp.err thp.smaps; do
	emit $f $T/$f
done

# ---- a VM that exits mid-scan ends its rows cleanly -------------------------
khguest --mem 4 --hot 64 --cold 64 --rounds 13 --hot-phases 12 --pause-ms 1500 \
	--file /run/khidle2.img 2> $T/short.err &
sp=$!
wait_for $T/short.err ready 30
kvmheat idle -j -p $sp --scans 100 --interval 1 --age-driver mglru > $T/exit.json 2> $T/exit.err
echo "status $?" >> $T/exit.err
wait $sp
emit exit.json $T/exit.json
emit exit.err $T/exit.err
echo "KHIDLE done"
