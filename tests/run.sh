#!/bin/sh
# Run every test binary in BUILD/tests (or only the one named ONLY, or all
# but one: tests/run.sh BUILD test_vmtest, tests/run.sh BUILD '!test_vmtest')
# and print one closing line:
#   N passed, N failed, N skipped
# Each binary is a cmocka group run with TAP output: "ok" passes,
# "not ok ... # SKIP" is skipped (its "# SKIP reason:" line says why),
# any other "not ok" fails, and a binary that dies without a plan or
# exits non-zero with no failing test counts as one failure.
build=${1:-build}
only=${2:-}
pass=0 fail=0 skip=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	case $only in
	"") ;;
	!*) [ "$name" != "${only#!}" ] || continue ;;
	*) [ "$name" = "$only" ] || continue ;;
	esac
	CMOCKA_MESSAGE_OUTPUT=TAP KH_BUILD="$build" "$t" > "$log" 2>&1
	rc=$?
	p=$(grep -c '^ok ' "$log")
	s=$(grep -c '^not ok .*# SKIP' "$log")
	f=$(grep '^not ok ' "$log" | grep -vc '# SKIP')
	if ! grep -q '^1\.\.' "$log" || { [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; }; then
		echo "not ok - $name exited with status $rc without reporting a failure" >> "$log"
		f=$((f + 1))
	fi
	# every planned test must report on a line of its own: a result glued to
	# other output would otherwise vanish from the count
	plan=$(sed -n 's/^1\.\.\([0-9]*\).*/\1/p' "$log" | head -1)
	if [ -n "$plan" ] && [ $((p + s + f)) -lt "$plan" ]; then
		echo "not ok - $name planned $plan tests but reported $((p + s + f))" >> "$log"
		f=$((f + plan - p - s - f))
	fi
	sed "s/^/[$name] /" "$log"
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
