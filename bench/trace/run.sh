#!/usr/bin/env bash
# The cost of `--trace` (not a test): relaybench with and without a per-request trace, against
# nginx (one worker) on loopback. Loopback only; everything started here is stopped by pid.
#   1. open model at 20,000 req/s (1 s warm-up, 256 connections, in-flight cap 1,024): achieved
#      rate and generator CPU (user + system seconds of the relaybench process) both ways,
#      plus the trace's lines and drops; ROUNDS interleaved rounds, medians compared.
#   2. closed model at full speed (-c 64, one generator thread): req/s both ways.
# Target: the trace costs under 10 % (CPU per request, and closed-model throughput).
# Needs: nginx (apt-get; installed when missing). TRACE=trace.jsonl.zst measures the compressed trace.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(pwd)/target}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18093}
TRACE=${TRACE:-trace.jsonl}
source bench/lib.sh
bench_init trace-bench
need_peers time
cargo build --release -q --bin relaybench
RB=$CARGO_TARGET_DIR/release/relaybench

BODY='{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}'
start_nginx "$PORT" "$BODY"
URL="http://127.0.0.1:$PORT/"
ratio() { python3 -c "print(f'{$1/$2:.3f}')"; }

# open ARGS...: one 20,000 req/s run; prints "rps cpu_seconds requests lines dropped".
open_run() {
  rm -rf "$WORK/open" "$WORK/$TRACE"
  local cpu
  cpu=$(/usr/bin/time -f "%U %S" "$RB" quick "$URL" -q 20000 -c 1024 --max-connections 256 --warmup 1s \
        -z "${DURATION}s" --threads 1 --out "$WORK/open" --quiet "$@" 2>&1 >/dev/null | tail -1)
  python3 - "$WORK/open/results.json" "$cpu" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))['runs'][0]
user, system = (float(x) for x in sys.argv[2].split())
t = r.get('trace') or {}
n = sum(r['outcomes'].values()) + sum(r['warmup_outcomes'].values())
print(f"{r['rps']:.0f} {user + system:.2f} {n} {t.get('lines', '-')} {t.get('dropped', '-')}")
PY
}

closed_rps() {
  rm -rf "$WORK/closed" "$WORK/$TRACE"
  "$RB" quick "$URL" -c 64 -z "${DURATION}s" --threads 1 --out "$WORK/closed" --quiet "$@" >/dev/null
  python3 -c "import json;print(round(json.load(open('$WORK/closed/results.json'))['runs'][0]['rps']))"
}

echo "== 1. open model at 20,000 req/s for ${DURATION}s (+1 s warm-up), ${ROUNDS} interleaved rounds; trace file: $TRACE"
printf "%-7s %-6s %10s %10s %12s %10s %8s\n" round trace "req/s" "cpu s" "requests" lines dropped
plain_cpu=(); trace_cpu=(); plain_rps=(); trace_rps=()
for i in $(seq "$ROUNDS"); do
  read -r rps cpu n lines dropped < <(open_run)
  printf "%-7s %-6s %10s %10s %12s %10s %8s\n" "$i" no "$rps" "$cpu" "$n" "$lines" "$dropped"
  plain_rps+=("$rps"); plain_cpu+=("$(python3 -c "print($cpu / $n * 1e6)")")
  read -r rps cpu n lines dropped < <(open_run --trace "$WORK/$TRACE")
  printf "%-7s %-6s %10s %10s %12s %10s %8s\n" "$i" yes "$rps" "$cpu" "$n" "$lines" "$dropped"
  trace_rps+=("$rps"); trace_cpu+=("$(python3 -c "print($cpu / $n * 1e6)")")
done
echo "median achieved: $(median "${plain_rps[@]}") vs $(median "${trace_rps[@]}") req/s (with trace / without: $(ratio "$(median "${trace_rps[@]}")" "$(median "${plain_rps[@]}")"))"
# CPU per request of the whole process (start-up and report included, the same both ways);
# each round's pair ran back to back, so the median of the pairs' ratios is the figure.
python3 - "${plain_cpu[*]}" "${trace_cpu[*]}" <<'PY'
import statistics, sys
p = [float(x) for x in sys.argv[1].split()]; t = [float(x) for x in sys.argv[2].split()]
print(f"generator CPU per request (µs): without {' '.join(f'{x:.1f}' for x in p)}; with {' '.join(f'{x:.1f}' for x in t)}")
print(f"median {statistics.median(p):.1f} vs {statistics.median(t):.1f} µs; median of the rounds' ratios {statistics.median(b / a for a, b in zip(p, t)):.3f}")
PY

echo "== 2. closed model, -c 64, one generator thread, ${DURATION}s: req/s, ${ROUNDS} interleaved rounds"
ps=(); ts=()
for _ in $(seq "$ROUNDS"); do
  ps+=("$(closed_rps)"); ts+=("$(closed_rps --trace "$WORK/$TRACE")")
done
p=$(median "${ps[@]}"); t=$(median "${ts[@]}")
echo "rounds without: ${ps[*]}   with: ${ts[*]}"
echo "median: $p req/s without, $t req/s with the trace (ratio $(ratio "$t" "$p"))"
