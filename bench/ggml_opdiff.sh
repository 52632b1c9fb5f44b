#!/usr/bin/env bash
# Op-level differential check against ggml: every op the llama/qwen2 graphs use (embed, rms_norm,
# rope, swiglu, flash attention in all three of ggml's algorithms, matmul in every kernel shape
# class for f32/f16/q8_0/q4_0 and the block formats Q2_K..Q6_K, Q4_1, Q5_0, Q5_1, IQ4_NL, including
# q4_0/q4_K/iq4_nl weights repacked by ggml) computed by llama.cpp's
# CPU backend and by Drawbridge on identical inputs; prints bit mismatches per op. The numerics
# contract (src/backends/cpu/vec_dot.h) is that there are none.
#
#   LLAMA_CPP=/path/to/llama.cpp bench/ggml_opdiff.sh [build dir]
#
# LLAMA_CPP is a llama.cpp source tree built (CPU backend, shared libs) in $LLAMA_CPP/build.
set -euo pipefail
: "${LLAMA_CPP:?set LLAMA_CPP to a built llama.cpp source tree}"
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
libs=()
for l in db_llm db_sim db_perf db_formats db_cpu db_hal db_core; do
  [[ -f "$build/lib$l.a" ]] && libs+=("$build/lib$l.a")
done
g++ -std=c++20 -O2 -I"$LLAMA_CPP/ggml/include" -I"$root/include" -I"$root/src" "$root/bench/ggml_opdiff.cpp" \
  -o "$out/opdiff" "${libs[@]}" -L"$LLAMA_CPP/build/bin" -lggml -lggml-base -lggml-cpu \
  -Wl,-rpath,"$LLAMA_CPP/build/bin" -ltomlplusplus -lfmt -lpthread
"$out/opdiff" 2>/dev/null
