#!/usr/bin/env bash
# Workload benchmark (not a test): do generated prompts show on the request path?
# The open model at RATE req/s against nginx (1 worker, a static chat completion), once with a
# one-line prompt and once with prompts of exactly 4,096 tokens (`input_tokens`, a pool of 1,000
# generated before the run), ROUNDS interleaved rounds; prints achieved rate, late starts and the
# generator's start-lag p99 for both. Loopback only; everything started here is stopped by pid.
# Needs: nginx (apt-get; installed when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(pwd)/target}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
RATE=${RATE:-2000}
PORT=${PORT:-18095}
source bench/lib.sh
bench_init workload-bench
need_peers
[ -n "${RB:-}" ] || { cargo build --release -q --bin relaybench; RB=$CARGO_TARGET_DIR/release/relaybench; }

BODY='{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}'
start_nginx "$PORT" "$BODY"

scenario() { # $1 = name, $2 = the mix entry's prompt lines
  cat > "$WORK/$1.toml" <<TOML
name = "$1"
[[target]]
name = "nginx"
url = "http://127.0.0.1:$PORT"
model = "gpt-4o-mini"
[workload]
model = "constant"
rate = $RATE
duration = "${DURATION}s"
warmup = "2s"
[[workload.mix]]
kind = "chat"
$2
TOML
}
scenario short 'prompts = ["Say hello in one short sentence."]'
scenario long 'input_tokens = { dist = "fixed", value = 4096 }
output_tokens = { dist = "fixed", value = 16 }'

figures() { # results.json -> "rps late start_lag_p99_ms"
  python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["runs"][0]
lag = r["histograms"].get("start_lag", {}).get("summary", {})
print(f'{r["rps"]:.1f} {r["late"]} {lag.get("p99", 0):.3f} {lag.get("max", 0):.3f} {sum(r["outcomes"].values())}')
PY
}

echo "== open model at $RATE req/s against nginx, ${DURATION}s rounds: one-line prompt vs 4,096-token prompts"
printf "%-6s %-6s %10s %8s %14s %12s %10s\n" round prompt "req/s" late "lag p99 ms" "lag max ms" requests
for r in $(seq 1 "$ROUNDS"); do
  for s in short long; do
    "$RB" run "$WORK/$s.toml" --out "$WORK/$s-$r" --quiet >/dev/null || true
    read -r rps late p99 max n < <(figures "$WORK/$s-$r/results.json")
    printf "%-6s %-6s %10s %8s %14s %12s %10s\n" "$r" "$s" "$rps" "$late" "$p99" "$max" "$n"
  done
done
