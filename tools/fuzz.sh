#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, with ASan+UBSan) and runs each for SECONDS (default 60),
# starting from the seed corpus in tests/fuzz/corpus/<target>. New inputs go to build-fuzz/corpus,
# never into the repository. Any crash, leak or sanitizer report fails the run.
#   tools/fuzz.sh [SECONDS] [TARGET...]     e.g. tools/fuzz.sh 3600 gguf
# Targets: gguf tokenizer csv profile (default: all). libFuzzer's per-input timeout counts wall-clock
# time, so under `nice` on a busy machine a starved run can look hung: raise FUZZ_TIMEOUT (seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(gguf tokenizer csv profile)
out=build-fuzz
mkdir -p "$out"
flags=(-std=c++20 -gline-tables-only -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Iinclude -Isrc)
declare -A sources=(
  [gguf]="src/formats/*.cpp src/core/*.cpp"
  [tokenizer]="src/llm/tokenizer*.cpp src/llm/unicode*.cpp src/formats/*.cpp src/core/*.cpp"
  [csv]="src/formats/csv.cpp"
  [profile]="src/perf/device_profile.cpp src/perf/toml_screen.cpp"
)
# The GGUF seeds are written by the test suite's writer (model files stay out of the repository).
if [[ " ${targets[*]} " == *" gguf "* ]]; then
  [[ -x build/test_formats ]] || { cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build --target test_formats; }
  DRAWBRIDGE_WRITE_FUZZ_CORPUS="$out/seeds/gguf" build/test_formats --gtest_filter='GgufFuzzCorpus.Write' >/dev/null
fi
export DRAWBRIDGE_SHARED=${DRAWBRIDGE_SHARED:-$(pwd)/../shared}
for t in "${targets[@]}"; do
  # shellcheck disable=SC2086
  clang++ "${flags[@]}" "tests/fuzz/fuzz_$t.cpp" ${sources[$t]} -lfmt -o "$out/fuzz_$t"
  mkdir -p "$out/corpus/$t"
  echo "fuzz_$t: ${seconds}s"
  log="$out/fuzz_$t.log"
  # libFuzzer exits non-zero on any crash, timeout, leak or sanitizer report (input saved in $out).
  if ! "$out/fuzz_$t" -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/" "$out/corpus/$t" $(ls -d "tests/fuzz/corpus/$t" "$out/seeds/$t" 2>/dev/null) >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz_$t FAILED (log: $log)"
    exit 1
  fi
  grep -E "stat::number_of_executed_units" "$log"
done
