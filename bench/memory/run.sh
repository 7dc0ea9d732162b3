#!/usr/bin/env bash
# Memory benchmark (not a test): relaybench's peak RSS must not grow with the length of a run.
# Loopback only; everything started here is stopped by pid.
#   1. `relaybench quick` at an open 1,000 req/s against the standalone mock-upstream (5 ms
#      latency) for SHORT and LONG seconds (default 120 and 600): RSS during load and peak RSS
#      of each, and the ratios (target: within 5 %). The series folds finished seconds and
#      downsamples, so only the open seconds hold histograms.
#   2. the 24 h series simulation (`cargo run --release --example series_24h`): 86,400 seconds
#      of buckets through the collector; prints the points, results.json and report.html sizes.
# Needs: GNU time (apt-get). Installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(pwd)/target}
SHORT=${SHORT:-120}
LONG=${LONG:-600}
RATE=${RATE:-1000}
PORT=${PORT:-18095}
source bench/lib.sh
bench_init mem-bench
[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
cargo build --release -q --bin relaybench --example series_24h
RB=$CARGO_TARGET_DIR/release/relaybench

"$RB" mock --listen "127.0.0.1:$PORT" --latency 5ms >"$WORK/mock.log" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do
  python3 -c "import urllib.request;urllib.request.urlopen('http://127.0.0.1:$PORT/v1/models')" 2>/dev/null && break
  sleep 0.1
done
URL="http://127.0.0.1:$PORT/v1/models"

# One run of $1 seconds: prints "RSS-during-load peak-RSS" (KiB). During load = the largest
# VmRSS sampled each second while requests are sent; peak = GNU time's maximum RSS, which
# also holds writing the report at the end (it grows with the series' points, up to the
# 2,000-point cap).
rss() {
  /usr/bin/time -f %M -o "$WORK/peak-$1" "$RB" quick "$URL" -q "$RATE" -z "${1}s" -c 64 --out "$WORK/run-$1" --quiet >/dev/null 2>&1 &
  local timer=$! pid="" load=0 now
  for _ in $(seq 50); do pid=$(pgrep -P "$timer" || true); [ -n "$pid" ] && break; sleep 0.1; done
  for _ in $(seq $(($1 - 1))); do
    sleep 1
    now=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ "${now:-0}" -gt "$load" ] && load=$now
  done
  wait "$timer"
  stat -c %s "$WORK/run-$1/results.json" >"$WORK/size-$1"
  echo "$load $(tail -1 "$WORK/peak-$1")"
}

echo "== 1. RSS at ${RATE} req/s (open model) against the mock on loopback"
read -r short_load short_peak < <(rss "$SHORT")
read -r long_load long_peak < <(rss "$LONG")
printf "%-8s %18s %24s %14s\n" seconds "RSS during load" "peak (with the report)" "results.json"
printf "%-8s %14s KiB %20s KiB %8s bytes\n" "$SHORT" "$short_load" "$short_peak" "$(cat "$WORK/size-$SHORT")"
printf "%-8s %14s KiB %20s KiB %8s bytes\n" "$LONG" "$long_load" "$long_peak" "$(cat "$WORK/size-$LONG")"
python3 -c "print(f'ratio during load {$long_load/$short_load:.3f} (target: within 5 %), peak {$long_peak/$short_peak:.3f}')"

echo "== 2. a 24 h series, simulated (86,400 seconds of buckets)"
"$CARGO_TARGET_DIR/release/examples/series_24h"
