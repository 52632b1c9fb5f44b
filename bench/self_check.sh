#!/usr/bin/env bash
# Self-check of the cost model (issue 4): does the calibrated `host` profile predict Drawbridge's
# own measured CPU bench? Writes the TinyLlama-1.1B shape (22 layers, 2048 embd, 5632 ff, 32 heads,
# 4 kv heads, 32000 vocab) with `drawbridge synth` in F16 and Q4_0, runs `drawbridge bench`
# (measured) and `drawbridge bench --device sim:host` (predicted: the model runs once through the
# CPU kernels, its time comes from the cost model) and prints measured, predicted and % error per
# test. The target is |error| <= 15 %.
#
#   bench/self_check.sh [build dir]
#   env: THREADS (2), REPS (3), TYPES ("f16 q4_0"), CALIBRATE=1 to re-run `devices --calibrate`
#        first (it runs anyway when the host is not calibrated), XDG_CACHE_HOME as for drawbridge.
#
# Both measurements are wall-clock on this machine: on a shared machine the load changes between
# the calibration and the bench, so the script prints the load average next to the figures.
set -euo pipefail
build=${1:-build}
db="$build/drawbridge"
threads=${THREADS:-2}
reps=${REPS:-3}
types=${TYPES:-"f16 q4_0"}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }

host_profile=$("$db" devices show host)  # whole output first: grep -q would cut the pipe (pipefail)
if [[ "${CALIBRATE:-0}" == 1 || "$host_profile" != *"measured by drawbridge devices --calibrate"* ]]; then
  echo "calibrating the host (load average $(load))..." >&2
  "$db" devices --calibrate -t "$threads" >&2
  host_profile=$("$db" devices show host)
fi
calibrated=$(grep -o 'measured by drawbridge devices --calibrate on .*' <<<"$host_profile" | awk 'NR == 1')

shape="--arch llama --n-layer 22 --n-embd 2048 --n-ff 5632 --n-head 32 --n-head-kv 4 --n-vocab 32000"
# One JSON row per test: print "<test> <avg_ts>" for each.
tps() { sed -n 's/.*"n_prompt": \([0-9]*\), "n_gen": \([0-9]*\), "avg_ts": \([0-9.]*\).*/\1 \2 \3/p' "$1" |
        awk '{ printf "%s %s\n", ($1 > 0 ? "pp" $1 : "tg" $2), $3 }'; }

rows=""
fail=0
for type in $types; do
  model="$work/tinyllama-shape-$type.gguf"
  "$db" synth $shape --type "$type" -o "$model" >/dev/null
  echo "$type: measuring (load average $(load))..." >&2
  "$db" bench -m "$model" -p 512 -n 128 -t "$threads" -r "$reps" -o json >"$work/measured.json"
  echo "$type: predicting on sim:host (load average $(load))..." >&2
  "$db" bench -m "$model" -p 512 -n 128 -t "$threads" -r "$reps" -o json --device sim:host >"$work/predicted.json"
  while read -r test measured; do
    predicted=$(tps "$work/predicted.json" | awk -v t="$test" '$1 == t { print $2 }')
    row=$(awk -v m="$measured" -v p="$predicted" -v ty="$type" -v t="$test" 'BEGIN {
      e = 100 * (p - m) / m; ok = (e <= 15 && e >= -15) ? "yes" : "NO";
      printf "| %s | %s | %.2f | %.2f | %+.1f %% | %s |", ty, t, m, p, e, ok }')
    [[ "$row" == *"| NO |" ]] && fail=$((fail + 1))
    rows+="$row"$'\n'
  done < <(tps "$work/measured.json")
  rm -f "$model"
done

echo "host profile: $calibrated"
echo "bench: -p 512 -n 128 -t $threads -r $reps; load average at the end: $(load) ($(nproc) cores)"
echo
echo "| type | test | measured t/s | predicted t/s (sim:host) | error | within 15 % |"
echo "|---|---|---:|---:|---:|---|"
printf '%s' "$rows"
exit $((fail > 0))
