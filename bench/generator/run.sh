#!/usr/bin/env bash
# Generator benchmarks (not tests): relaybench beside wrk and oha, measured in the same run.
# Loopback only; everything started here is stopped by pid.
#   1. max throughput, closed model, against nginx (1 worker) serving a static JSON:
#      64 and 256 connections, each tool at 1 and 2 generator threads; ROUNDS interleaved
#      rounds per cell, medians compared.
#   2. open model at 20,000, 35,000 and 50,000 req/s against nginx beside oha -q (same rounds,
#      interleaved): achieved rate (% of target), drops, start-lag p99, latency p50/p99.
#      OLD_RB=BINARY adds another relaybench build (e.g. main's) to the same rounds.
#   3. RSS after 1,000,000 requests vs after 100,000 (memory must not grow with requests).
# Needs: wrk and nginx (apt-get), oha (cargo install oha --locked). Installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(pwd)/target}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
SECTIONS=${SECTIONS:-123}   # which of the sections below to run, e.g. SECTIONS=2
# OPEN_RATES: section 2's rates (default "20000 35000 50000")
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

if [[ $SECTIONS == *1* ]]; then
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
fi

if [[ $SECTIONS == *2* ]]; then
echo "== 2. open model against nginx (1 worker): relaybench quick -q RATE -c 256 beside oha -q RATE -c 256 --latency-correction, ${DURATION}s, medians of ${ROUNDS} interleaved rounds"
# relaybench measures after a 1 s warm-up (the cold pool's 256 dials stay out of the figures);
# oha has no warm-up. Start lag is relaybench's own (oha does not report one). OLD_RB=BINARY
# adds a row for another relaybench build (e.g. main's) in the same rounds.
rb_open() { # BINARY RATE -> "rate_pct dropped lag_p99 p50 p99"
  "$1" quick "$URL" -q "$2" -c 256 --warmup 1s -z "${DURATION}s" --out "$WORK/open" --quiet >/dev/null
  python3 - "$WORK/open/results.json" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))['runs'][0]
h = r['histograms']
lag = h.get('start_lag', {}).get('summary', {})
lat = h['latency']['summary']
led = r.get('ledger', {}).get('measured', {})
print(f"{r['rps']/float(sys.argv[2])*100:.2f} {led.get('dropped', r['dropped'])} {lag.get('p99', 0):.3f} {lat['p50']:.3f} {lat['p99']:.3f}")
PY
}
oha_open() { # RATE -> "rate_pct errors - p50 p99"
  oha --no-tui --output-format json -q "$1" -c 256 --latency-correction -z "${DURATION}s" "$URL" > "$WORK/oha.json"
  python3 - "$WORK/oha.json" "$1" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
s, p = o['summary'], o['latencyPercentiles']
ok = sum(o.get('statusCodeDistribution', {}).values())
rate = ok / s['total']
print(f"{rate/float(sys.argv[2])*100:.2f} {sum(o.get('errorDistribution', {}).values())} - {p['p50']*1000:.3f} {p['p99']*1000:.3f}")
PY
}
# Median of column N of the lines in a file ("-" stays "-").
col_median() { awk -v c="$2" '{print $c}' "$1" | { mapfile -t v; [ "${v[0]}" = "-" ] && echo "-" || python3 -c "import statistics,sys;print(f'{statistics.median(float(x) for x in sys.argv[1:]):.2f}')" "${v[@]}"; }; }
printf "%-8s %-16s %10s %8s %12s %10s %10s\n" rate tool "% target" drops "lag p99 ms" "p50 ms" "p99 ms"
for rate in ${OPEN_RATES:-20000 35000 50000}; do
  tools=(relaybench oha); [ -n "${OLD_RB:-}" ] && tools=(relaybench relaybench-old oha)
  for t in "${tools[@]}"; do : > "$WORK/rows-$t"; done
  for _ in $(seq "$ROUNDS"); do
    rb_open "$RB" "$rate" >> "$WORK/rows-relaybench"
    [ -n "${OLD_RB:-}" ] && rb_open "$OLD_RB" "$rate" >> "$WORK/rows-relaybench-old"
    oha_open "$rate" >> "$WORK/rows-oha"
  done
  for t in "${tools[@]}"; do
    printf "%-8s %-16s %10s %8s %12s %10s %10s\n" "$rate" "$t" $(for c in 1 2 3 4 5; do col_median "$WORK/rows-$t" $c; done)
  done
  # A median can hide one bad round: each round's own figures, in the columns' order.
  for t in "${tools[@]}"; do
    echo "         $t rounds: $(paste -sd'|' "$WORK/rows-$t" | sed 's/|/  |  /g')"
  done
done
fi

if [[ $SECTIONS == *3* ]]; then
echo "== 3. memory: peak RSS after 100,000 and 1,000,000 requests (-c 64)"
rss() { /usr/bin/time -f %M "$RB" quick "$URL" -c 64 -n "$1" --out "$WORK/mem" --quiet 2>&1 >/dev/null | tail -1; }
a=$(rss 100000); b=$(rss 1000000)
echo "100k: ${a} KiB   1M: ${b} KiB   ratio $(ratio $b $a)"
fi
