#!/usr/bin/env bash
# Greedy decoding, Drawbridge vs llama.cpp, on random llama- and qwen2-shaped models written by
# `drawbridge synth` in several weight types. Without GREEDY_IDS it compares the text both print
# (llama-completion --temp 0); with GREEDY_IDS set to a small program of yours on llama.cpp's
# library that prints the prompt ids and then the greedy ids, one line each (as
# `drawbridge run --print-ids` does), it compares the ids. Note: we saw llama-completion print
# different text for the same random-weight file from run to run (a warm-up or thread-scheduling
# effect in that tool), while the library-level greedy ids were stable; prefer GREEDY_IDS.
#
#   LLAMA_CPP_BIN=/path/to/llama.cpp/build/bin bench/compare_greedy.sh [build dir]
#
# llama.cpp is built by you, outside this repository, from its public source.
set -euo pipefail
: "${LLAMA_CPP_BIN:?set LLAMA_CPP_BIN to a llama.cpp build/bin directory}"
build=${1:-build}
db="$build/drawbridge"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=${N_PREDICT:-32}
types=${TYPES:-"f32 f16 q8_0 q4_0"}
prompt="Once upon a time"

shapes=(
  "llama  --n-layer 2 --n-embd 256 --n-ff 512 --n-head 8 --n-head-kv 2 --n-vocab 1024"
  "llama  --n-layer 4 --n-embd 512 --n-ff 1376 --n-head 8 --n-head-kv 8 --n-vocab 4096"
  "qwen2  --n-layer 2 --n-embd 256 --n-ff 768 --n-head 4 --n-head-kv 2 --n-vocab 1024"
  "qwen2  --n-layer 3 --n-embd 448 --n-ff 1216 --n-head 7 --n-head-kv 1 --n-vocab 2048"
)
pass=0 fail=0
printf '| arch | shape | type | tokens equal |\n|---|---|---|---|\n'
for shape in "${shapes[@]}"; do
  read -r arch rest <<<"$shape"
  for t in $types; do
    f="$work/m.gguf"
    "$db" synth --arch "$arch" $rest --type "$t" --seed 7 -o "$f" >/dev/null
    if [[ -n "${GREEDY_IDS:-}" ]]; then
      ours=$("$db" run -m "$f" -p "$prompt" -n "$n" --temp 0 -t 2 --print-ids 2>/dev/null | tail -1)
      theirs=$("$GREEDY_IDS" -m "$f" -p "$prompt" -n "$n" -t 2 2>/dev/null | tail -1)
    else
      ours=$("$db" run -m "$f" -p "$prompt" -n "$n" --temp 0 -t 2 2>/dev/null | od -An -tx1)
      theirs=$("$LLAMA_CPP_BIN/llama-completion" -m "$f" -p "$prompt" -n "$n" --temp 0 -t 2 -no-cnv 2>/dev/null | od -An -tx1)
    fi
    same=no
    if [[ "$ours" == "$theirs" ]]; then same=yes; fi
    [[ $same == yes ]] && pass=$((pass + 1)) || fail=$((fail + 1))
    printf '| %s | %s | %s | %s |\n' "$arch" "$rest" "$t" "$same"
  done
done
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
