#!/usr/bin/env bash
# Side-by-side throughput of drawbridge and llama.cpp on the same GGUF files and thread count:
# pp (prompt of PROMPT tokens in one batch) and tg (GEN single-token steps), alternating the two
# programs ROUNDS times so that both see the same background load, then a table of medians and
# each program's peak RSS. llama.cpp is never built here: point LLAMA_CPP_BIN at its build.
#
#   LLAMA_CPP_BIN=/path/to/llama.cpp/build/bin bench/compare_llamacpp.sh /tmp/tl-q4_0.gguf ...
#
# Environment: LLAMA_CPP_BIN (required: llama-bench, or the directory holding it), DRAWBRIDGE
# (default: build/drawbridge beside this script), THREADS (2), PROMPT (512), GEN (128), REPS (3,
# repetitions inside each run), ROUNDS (3), OUT (directory for the raw JSON, default a temp dir).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
: "${LLAMA_CPP_BIN:?set LLAMA_CPP_BIN to llama-bench or the directory that holds it}"
llama_bench=$LLAMA_CPP_BIN
[[ -d $llama_bench ]] && llama_bench=$llama_bench/llama-bench
drawbridge=${DRAWBRIDGE:-$here/../build/drawbridge}
for exe in "$llama_bench" "$drawbridge"; do
  [[ -x $exe ]] || { echo "error: $exe is not an executable" >&2; exit 1; }
done
(($# > 0)) || { echo "usage: LLAMA_CPP_BIN=... $0 model.gguf [model.gguf ...]" >&2; exit 1; }
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"

exec python3 - "$out" "$drawbridge" "$llama_bench" "${THREADS:-2}" "${PROMPT:-512}" "${GEN:-128}" \
  "${REPS:-3}" "${ROUNDS:-3}" "$@" <<'PY'
import json, os, statistics, sys, time

out, drawbridge, llama_bench, threads, prompt, gen, reps, rounds, *models = sys.argv[1:]
common = ["-t", threads, "-p", prompt, "-n", gen, "-r", reps, "-o", "json"]

def run(argv, path):
    """Runs one benchmark; returns its JSON rows and the child's peak RSS in bytes."""
    pid = os.fork()
    if pid == 0:
        with open(path, "w") as f:
            os.dup2(f.fileno(), 1)
            os.execv(argv[0], argv)
    _, status, usage = os.wait4(pid, 0)
    if status != 0:
        sys.exit(f"error: {' '.join(argv)} exited with status {status}")
    with open(path) as f:
        return json.load(f), usage.ru_maxrss * 1024

def test_name(row):
    return f"pp{row['n_prompt']}" if row["n_prompt"] > 0 else f"tg{row['n_gen']}"

results = {}  # (model, program, test) -> [t/s per round]; (model, program) -> [rss]
for model in models:
    name = os.path.basename(model)
    for r in range(int(rounds)):
        for prog, argv in (("drawbridge", [drawbridge, "bench", "-m", model] + common),
                           ("llama.cpp", [llama_bench, "-m", model] + common)):
            t0 = time.time()
            rows, rss = run(argv, os.path.join(out, f"{prog}-{name}-{r}.json"))
            for row in rows:
                results.setdefault((name, prog, test_name(row)), []).append(row["avg_ts"])
                if prog == "drawbridge" and row.get("read_gbps", 0) > 0:  # tg: bandwidth measured in this run
                    results.setdefault((name, "bandwidth"), []).append((row["read_gbps"], row["bytes_per_token"]))
            # drawbridge reports its peak RSS before its bandwidth probe (whose buffer is not the model's)
            results.setdefault((name, prog), []).append(rows[0]["peak_rss"] if prog == "drawbridge" else rss)
            print(f"# {name} round {r + 1} {prog}: {time.time() - t0:.0f} s", file=sys.stderr)

print(f"\nthreads {threads}, {rounds} rounds x {reps} repetitions, medians of the per-round means; raw JSON in {out}\n")
print("| model | test | drawbridge t/s | llama.cpp t/s | ratio | drawbridge BW % | llama.cpp BW % |")
print("|---|---|--:|--:|--:|--:|--:|")
for model in models:
    name = os.path.basename(model)
    tests = sorted({k[2] for k in results if len(k) == 3 and k[0] == name}, key=lambda t: (t[:2] != "pp", t))
    for t in tests:
        ours = statistics.median(results.get((name, "drawbridge", t), [float("nan")]))
        peer = statistics.median(results.get((name, "llama.cpp", t), [float("nan")]))
        # BW %: weight bytes read per token x t/s over the read bandwidth drawbridge measured in its runs
        bw = results.get((name, "bandwidth"))
        share = lambda tps: f"{100 * tps * bw[0][1] / 1e9 / statistics.median(b for b, _ in bw):.0f}" if bw and t.startswith("tg") else ""
        print(f"| {name} | {t} | {ours:.2f} | {peer:.2f} | {ours / peer:.2f} | {share(ours)} | {share(peer)} |")
print("\n| model | drawbridge peak RSS | llama.cpp peak RSS |")
print("|---|--:|--:|")
for model in models:
    name = os.path.basename(model)
    mib = lambda prog: max(results[(name, prog)]) / 2**20
    print(f"| {name} | {mib('drawbridge'):.0f} MiB | {mib('llama.cpp'):.0f} MiB |")
PY
