#!/bin/sh
# Run each libFuzzer target for SECONDS: seeds from tests/fuzz/seeds/TARGET,
# the kept crashers in tests/fuzz/regress/TARGET first (they must pass), a
# scratch corpus under BUILD.  A crash leaves its input in BUILD/crashes and
# fails the run; copy it into tests/fuzz/regress/TARGET once fixed.
#   tests/fuzz/run.sh BUILD SECONDS TARGET...
set -eu
build=$1 secs=$2
shift 2
here=$(dirname "$0")
mkdir -p "$build/crashes"
for t in "$@"; do
	corpus="$build/corpus-$t"
	mkdir -p "$corpus" "$here/seeds/$t" "$here/regress/$t"
	if [ -n "$(ls -A "$here/regress/$t")" ]; then
		"$build/fuzz_$t" "$here"/regress/"$t"/* > "$build/regress-$t.log" 2>&1 ||
			{ tail -30 "$build/regress-$t.log"; echo "fuzz $t: a kept crasher fails again"; exit 1; }
	fi
	"$build/fuzz_$t" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
		-artifact_prefix="$build/crashes/$t-" -print_final_stats=1 \
		"$corpus" "$here/seeds/$t" > "$build/fuzz-$t.log" 2>&1 ||
		{ tail -40 "$build/fuzz-$t.log"; echo "fuzz $t: crash, input in $build/crashes"; exit 1; }
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/fuzz-$t.log")
	echo "fuzz $t: $runs executions in ${secs}s, no crash"
done
