#!/usr/bin/env bash
# A bounded fuzzing run (make run): copies seeds/ and regressions/ into the scratch corpus
# out/corpus (kept between runs, so that each run starts where the last one stopped), runs
# fuzz_contract for FUZZ_SECONDS with the dictionary (and FUZZ_ARGS, more libFuzzer options), then prints the executions, the
# speed, the coverage and each finding. Exits non-zero when libFuzzer found something; the
# input it kept is in out/artifacts/ (after the fix, copy it into regressions/).
set -uo pipefail
cd "$(dirname "$0")"

seconds=${FUZZ_SECONDS:-60}
max_len=${FUZZ_MAX_LEN:-65536}
mkdir -p out/corpus out/artifacts
cp -n seeds/* out/corpus/
find regressions -maxdepth 1 -type f ! -name 'README*' -exec cp -n {} out/corpus/ \;
log=out/fuzz-$(date +%Y%m%d-%H%M%S).log
marker=$(mktemp out/.start.XXXXXX)

echo "fuzzing for ${seconds}s; corpus out/corpus ($(ls out/corpus | wc -l) files); log $log"
./fuzz_contract out/corpus -dict=json.dict -max_len="$max_len" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=2048 -artifact_prefix=out/artifacts/ -print_final_stats=1 \
    ${FUZZ_ARGS:-} >"$log" 2>&1
rc=$?

stat() { awk -v k="stat::$1:" '$1 == k { print $2; exit }' "$log"; }
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
echo "executions:   $(stat number_of_executed_units)"
echo "exec/s:       $(stat average_exec_per_sec)"
echo "peak rss:     $(stat peak_rss_mb) MB"
echo "last status:  ${last:-none}"
echo "corpus:       $(ls out/corpus | wc -l) files"

findings=$(find out/artifacts -type f -newer "$marker" | sort)
rm -f "$marker"
if [ -z "$findings" ] && [ "$rc" -eq 0 ]; then
    echo "findings:     none"
    exit 0
fi
echo "findings:"
for f in $findings; do
    echo "  $f ($(wc -c <"$f") bytes)"
done
grep -m 1 -A 12 -E '^==== routerkeys fuzz finding|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log" |
    sed 's/^/  | /'
echo "replay one: ./fuzz_contract FILE   (exit status $rc; full log in $log)"
exit 1
