#!/usr/bin/env bash
# The main job on a fresh machine, with nothing downloaded: build Drawbridge, write a small
# random-weight Llama-shaped model with a working tokenizer, inspect it, and generate from it.
# With ../shared present, also run the real stories260K model (its text is llama.cpp's, byte for byte).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target drawbridge >/dev/null
db=build/drawbridge
model=build/demo-llama.gguf
$db synth --arch llama --n-layer 4 --n-embd 256 --n-ff 704 --n-head 8 --n-head-kv 4 --n-vocab 2048 \
  --type q8_0 -o "$model"
$db info "$model" | tail -n 12
echo "--- generating 32 tokens (random weights: the text is noise, the speed is real)"
$db run -m "$model" -p "Once upon a time" -n 32 --temp 0
if [[ -f ../shared/models/stories260K.gguf ]]; then
  echo "--- stories260K, greedy"
  $db run -m ../shared/models/stories260K.gguf -p "Once upon a time" -n 64 --temp 0
fi
