#!/usr/bin/env bash
# Greedy decoding, Drawbridge vs llama.cpp, on files written by llama.cpp's own llama-quantize in
# the K-quant mixes people download (Q2_K, Q3_K_M, Q4_K_S, Q4_K_M, Q5_K_M, Q6_K). Random llama-
# and qwen2-shaped models (widths multiples of 256, so every tensor gets the mix's K-quant rather
# than a fallback type) are written by `drawbridge synth --type f16`, quantized by llama-quantize
# (no importance matrix), and decoded for N_PREDICT greedy steps by both; the ids must be equal.
#
#   LLAMA_CPP_BIN=/path/to/llama.cpp/build/bin GREEDY_IDS=/path/to/greedy bench/compare_kquants.sh [build dir]
#
# GREEDY_IDS is a small program of yours on llama.cpp's library that prints the prompt ids and then
# the greedy ids, one line each (see bench/compare_greedy.sh). llama.cpp is built by you, outside
# this repository, from its public source.
set -euo pipefail
: "${LLAMA_CPP_BIN:?set LLAMA_CPP_BIN to a llama.cpp build/bin directory}"
: "${GREEDY_IDS:?set GREEDY_IDS to a greedy-ids program on llama.cpp (see bench/compare_greedy.sh)}"
build=${1:-build}
db="$build/drawbridge"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=${N_PREDICT:-32}
threads=${THREADS:-2}
mixes=${MIXES:-"Q2_K Q3_K_M Q4_K_S Q4_K_M Q5_K_M Q6_K"}
prompt="Once upon a time"

shapes=(
  "llama  --n-layer 2 --n-embd 256 --n-ff 768 --n-head 4 --n-head-kv 2 --n-vocab 1024"
  "llama  --n-layer 4 --n-embd 512 --n-ff 1536 --n-head 8 --n-head-kv 8 --n-vocab 4096"
  "qwen2  --n-layer 2 --n-embd 256 --n-ff 768 --n-head 4 --n-head-kv 2 --n-vocab 1024"
  "qwen2  --n-layer 3 --n-embd 512 --n-ff 1280 --n-head 8 --n-head-kv 2 --n-vocab 2048"
)
pass=0 fail=0
printf '| arch | shape | mix | tokens equal |\n|---|---|---|---|\n'
for shape in "${shapes[@]}"; do
  read -r arch rest <<<"$shape"
  "$db" synth --arch "$arch" $rest --type f16 --seed 7 -o "$work/f16.gguf" >/dev/null
  for mix in $mixes; do
    f="$work/m.gguf"
    "$LLAMA_CPP_BIN/llama-quantize" "$work/f16.gguf" "$f" "$mix" "$threads" >"$work/quantize.log" 2>&1 ||
      { cat "$work/quantize.log" >&2; exit 1; }
    ours=$("$db" run -m "$f" -p "$prompt" -n "$n" --temp 0 -t "$threads" --print-ids 2>/dev/null | tail -1)
    theirs=$("$GREEDY_IDS" -m "$f" -p "$prompt" -n "$n" -t "$threads" 2>/dev/null | tail -1)
    same=no
    if [[ -n "$ours" && "$ours" == "$theirs" ]]; then same=yes; fi
    [[ $same == yes ]] && pass=$((pass + 1)) || fail=$((fail + 1))
    printf '| %s | %s | %s | %s |\n' "$arch" "$rest" "$mix" "$same"
    if [[ $same == no && -n "${VERBOSE:-}" ]]; then printf 'ours:   %s\ntheirs: %s\n' "$ours" "$theirs"; fi
  done
done
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
