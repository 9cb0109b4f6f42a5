#!/bin/bash
# `kvmheat export` under load, everything on 127.0.0.1.  Printed, never
# asserted:
#  1. 200 concurrent scrapers for 20 s plus 12 misbehaving clients (half-sent
#     requests, 1 MiB headers, clients that never read), one busy khguest:
#     scrape latency median / p99, requests served, exporter RSS before and
#     after, exporter CPU.
#  2. 1 busy, then 1, 10 and 50 small khguest VMs (16 MiB, mostly paused):
#     exporter CPU while only sampling (-i 1), what the last sample (map
#     drain) took, sequential scrape latency, scrape size, samples, RSS, and
#     memory per VM.
#  3. For scale: node_exporter (Debian prometheus-node-exporter), scraped
#     the same way on the same machine.
#
#   sudo tools/bench-export.sh [BUILD]
set -u
build=${1:-build}
dir=$(mktemp -d /var/tmp/kh-bexp-XXXXXX)
declare -a guests=()
exp=
cleanup() {
	[ -n "$exp" ] && kill "$exp" 2>/dev/null
	[ ${#guests[@]} -gt 0 ] && kill -9 "${guests[@]}" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
hz=$(getconf CLK_TCK)

rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo -; }
# user+system ticks of a process
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
freeport() {
	local p
	while :; do
		p=$(shuf -i 20000-60000 -n 1)
		ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}
# body size and samples of one scrape, through bash's /dev/tcp
scrape_stats() {
	local out
	exec 3<>"/dev/tcp/127.0.0.1/$1"
	printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
	out=$(cat <&3 | sed '1,/^\r$/d')
	exec 3>&-
	echo "$(printf '%s\n' "$out" | wc -c) $(printf '%s\n' "$out" | grep -vc '^#')" \
	     "$(printf '%s\n' "$out" | awk '/^kvmheat_sample_duration_seconds / { print $2 }')"
}
# khguest VMs: $1 of them, $2 = busy|idle; their pids into guests[]
start_guests() {
	local i args
	if [ "$2" = busy ]; then
		args=(--mem 16 --hot 64 --cold 64 --rounds 100000000)
	else
		args=(--mem 16 --hot 64 --cold 64 --rounds 4 --hot-phases 3 --pause-ms 40000)
	fi
	for ((i = 0; i < $1; i++)); do
		"$build/khguest" "${args[@]}" 2> "$dir/g$i.err" &
		guests+=($!)
	done
	for ((i = 0; i < $1; i++)); do
		until grep -q ready "$dir/g$i.err" 2>/dev/null; do sleep 0.05; done
	done
}
stop_guests() {
	kill -9 "${guests[@]}" 2>/dev/null
	wait "${guests[@]}" 2>/dev/null
	guests=()
}
# kvmheat export on a free port, watching only our guests; sets exp, port
start_export() {
	local list
	list=$(IFS=,; echo "${guests[*]}")
	port=$(freeport)
	"$build/kvmheat" export -l "127.0.0.1:$port" -i 1 -p "$list" 2> "$dir/exp.err" &
	exp=$!
	until grep -q serving "$dir/exp.err" 2>/dev/null; do
		kill -0 "$exp" 2>/dev/null || { cat "$dir/exp.err"; exit 1; }
		sleep 0.1
	done
	sleep 2
}
stop_export() {
	kill "$exp"
	wait "$exp" 2>/dev/null
	exp=
}
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<< "$2"; }

echo "kvmheat export benchmark, $(date -u +%F), $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg) at the start"
echo

# ---- 1: load ----
# two rounds of the same load: RSS after the second shows whether it keeps growing
start_guests 1 busy
start_export
echo "200 concurrent scrapers for 20 s + 12 bad clients (half-sent, 1 MiB header, never reads), 1 busy VM, two rounds:"
echo
echo "| round | requests | errors | scrapes/s | median | p99 | max | bad-client rounds | exporter CPU | RSS before | RSS after | serving after |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for round in 1 2; do
	r0=$(rss "$exp")
	t0=$(ticks "$exp")
	load=$("$build/khscrape" "$port" 200 20 12)
	t1=$(ticks "$exp")
	sleep 1
	r1=$(rss "$exp")
	alive=$(kill -0 "$exp" 2>/dev/null && echo yes || echo NO)
	after=$("$build/khscrape" "$port" 1 2)
	echo "| $round | $(field requests "$load") | $(field errors "$load") | $(field rps "$load") |" \
	     "$(field median_ms "$load") ms | $(field p99_ms "$load") ms | $(field max_ms "$load") ms |" \
	     "$(field bad_rounds "$load") | $(awk -v t=$((t1 - t0)) -v hz="$hz" 'BEGIN { printf "%.0f%%", 100 * t / hz / 20 }') |" \
	     "$r0 KiB | $r1 KiB | $alive, median $(field median_ms "$after") ms |"
done
stop_export
stop_guests
echo

# ---- 2: 1, 10, 50 VMs ----
echo "khguest VMs of 16 MiB (idle: paused most of the time; busy: one spinning on its hot set)," \
     "-i 1, sequential scrapes for 5 s:"
echo
echo "| VMs | exporter CPU, sampling only | last sample took | scrape median | scrape p99 | scrape bytes | samples | RSS |"
echo "|---|---|---|---|---|---|---|---|"
declare -A rssn
for spec in "1 busy" "1 idle" "10 idle" "50 idle"; do
	read -r n kind <<< "$spec"
	start_guests "$n" "$kind"
	start_export
	t0=$(ticks "$exp")
	sleep 10
	t1=$(ticks "$exp")
	seq=$("$build/khscrape" "$port" 1 5)
	read -r bytes samples dur <<< "$(scrape_stats "$port")"
	[ "$kind" = idle ] && rssn[$n]=$(rss "$exp")
	echo "| $n $kind | $(awk -v t=$((t1 - t0)) -v hz="$hz" 'BEGIN { printf "%.1f%%", 100 * t / hz / 10 }') |" \
	     "$(awk -v d="$dur" 'BEGIN { printf "%.2f ms", d * 1000 }') |" \
	     "$(field median_ms "$seq") ms | $(field p99_ms "$seq") ms | $bytes | $samples | $(rss "$exp") KiB |"
	stop_export
	stop_guests
done
echo
echo "Memory per VM: $(( (rssn[50] - rssn[1]) / 49 )) KiB of exporter RSS ((RSS at 50 idle VMs - RSS at 1) / 49)."
echo

# ---- 3: node_exporter beside it ----
if command -v prometheus-node-exporter > /dev/null; then
	port=$(freeport)
	prometheus-node-exporter --web.listen-address="127.0.0.1:$port" 2> "$dir/ne.err" &
	exp=$!
	sleep 2
	seq=$("$build/khscrape" "$port" 1 5)
	read -r bytes samples <<< "$(scrape_stats "$port")"
	echo "node_exporter $(prometheus-node-exporter --version 2>&1 | awk 'NR == 1 { print $3 }'), same machine, sequential scrapes for 5 s:" \
	     "median $(field median_ms "$seq") ms, p99 $(field p99_ms "$seq") ms, $bytes bytes, $samples samples, RSS $(rss "$exp") KiB."
	stop_export
else
	echo "node_exporter: not installed (Debian prometheus-node-exporter); no reference figures."
fi
