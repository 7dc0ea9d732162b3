#!/usr/bin/env bash
# Generator benchmarks (not tests): relaybench beside wrk and oha, measured in the same run.
# Loopback only; everything started here is stopped by pid.
#   1. max throughput, closed model, against nginx (1 worker) serving a static JSON:
#      64 and 256 connections, each tool at 1 and 2 generator threads; ROUNDS interleaved
#      rounds per cell, medians compared.
#   2. open model at 20,000 req/s against nginx after a warm-up: achieved rate vs target, late-start p99.
#   3. RSS after 1,000,000 requests vs after 100,000 (memory must not grow with requests).
# Needs: wrk and nginx (apt-get), oha (cargo install oha --locked). Installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(pwd)/target}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18090}
source bench/lib.sh
bench_init gen-bench
need_peers time
command -v oha >/dev/null || cargo install oha --locked -q
cargo build --release -q --bin relaybench
RB=$CARGO_TARGET_DIR/release/relaybench

BODY='{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}'
start_nginx "$PORT" "$BODY"
URL="http://127.0.0.1:$PORT/"

wrk_rps() { wrk -t"$1" -c"$2" -d"${DURATION}s" "$URL" | awk '/Requests\/sec/ {print $2}'; }
oha_rps() { oha --no-tui -c "$2" -z "${DURATION}s" --worker-threads "$1" "$URL" | awk '/Requests\/sec/ {print $2}'; }
rb_rps() {
  "$RB" quick "$URL" -c "$2" -z "${DURATION}s" --threads "$1" --out "$WORK/rb" --quiet >/dev/null
  python3 -c "import json;print(round(json.load(open('$WORK/rb/results.json'))['runs'][0]['rps']))"
}
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }

echo "== 1. closed-model throughput against nginx (1 worker), req/s: median of ${ROUNDS} interleaved ${DURATION}s rounds"
echo "   (one machine, consecutive runs of one tool differ by up to ±15 %: only interleaved medians compare)"
printf "%-6s %-8s %10s %10s %10s %12s %12s\n" conns threads wrk oha relaybench "rb/wrk" "rb/oha"
for c in 64 256; do
  for t in 1 2; do
    ws=(); os=(); rs=()
    for _ in $(seq "$ROUNDS"); do
      ws+=("$(wrk_rps $t $c)"); os+=("$(oha_rps $t $c)"); rs+=("$(rb_rps $t $c)")
    done
    w=$(median "${ws[@]}"); o=$(median "${os[@]}"); r=$(median "${rs[@]}")
    printf "%-6s %-8s %10s %10s %10s %12s %12s\n" "$c" "$t" "$w" "$o" "$r" "$(ratio $r $w)" "$(ratio $r $o)"
  done
done

echo "== 2. open model at 20,000 req/s for ${DURATION}s after a 1 s warm-up (256 connections, in-flight cap 1024), ${ROUNDS} rounds"
# The warm-up keeps the cold pool's 256 dials out of the figures, as wrk2 connects before it measures.
for _ in $(seq "$ROUNDS"); do
"$RB" quick "$URL" -q 20000 -c 1024 --max-connections 256 --warmup 1s -z "${DURATION}s" --threads 1 --out "$WORK/open" --quiet >/dev/null
python3 - "$WORK/open/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))['runs'][0]
lag = r['histograms'].get('start_lag', {}).get('summary', {})
led = r.get('ledger', {}).get('measured', {})
print(f"target 20000 req/s, achieved {r['rps']:.0f} req/s ({r['rps']/20000*100:.2f}%), arrivals {r.get('arrivals', r['scheduled'])}, "
      f"late {r['late']}, queued at the cap {led.get('queued', 0)}, dropped {r['dropped']}, "
      f"start-lag p50 {lag.get('p50',0):.3f} ms p99 {lag.get('p99',0):.3f} ms max {lag.get('max',0):.3f} ms")
PY
done

echo "== 3. memory: peak RSS after 100,000 and 1,000,000 requests (-c 64)"
rss() { /usr/bin/time -f %M "$RB" quick "$URL" -c 64 -n "$1" --out "$WORK/mem" --quiet 2>&1 >/dev/null | tail -1; }
a=$(rss 100000); b=$(rss 1000000)
echo "100k: ${a} KiB   1M: ${b} KiB   ratio $(ratio $b $a)"
