#!/usr/bin/env bash
# Benchmark mock-upstream (not a test). Loopback only; everything started here is stopped by pid.
#  1. no faults: wrk -t1 -c64 against mock-upstream and against nginx (1 worker) returning the
#     same JSON body from memory; prints both req/s and the ratio (target >= 0.8).
#  2. 100 ms latency: holds 10,000 keep-alive connections with requests in flight; prints RSS
#     (target < 200 MiB).
#  3. streams: `--workers 1`, 64 tokens, ttft 50 ms, inter_token 10 ms, driven by `relaybench run`
#     (closed model, streamed chat) at 256 and 1,024 users: the mock's CPU per streamed request
#     (utime+stime from /proc, target <= 0.4 ms) and its lateness p99 (target <= 2 ms).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
MOCK_PORT=${MOCK_PORT:-18080}
NGINX_PORT=${NGINX_PORT:-18081}
CONNS=${CONNS:-10000}
source bench/lib.sh
bench_init mock-bench
need_peers

cargo build --release -q -p mock-upstream
MOCK=$CARGO_TARGET_DIR/release/mock-upstream
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true  # 10,000 sockets each side need the hard limit


BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'
cat > "$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
LUA

# --- 1. throughput, no faults -------------------------------------------------------------
"$MOCK" --listen 127.0.0.1:$MOCK_PORT --seed 1 --workers 1 --log warn >"$WORK/mock.log" 2>&1 &
MOCK_PID=$!; PIDS+=($MOCK_PID)
wait_port $MOCK_PORT
REPLY=$(curl -s -X POST -H 'content-type: application/json' -d "$BODY" http://127.0.0.1:$MOCK_PORT/v1/chat/completions)
start_nginx "$NGINX_PORT" "$REPLY"
NGINX_PID=${PIDS[-1]}

rps() { wrk -t1 -c64 -d${DURATION}s -s "$WORK/post.lua" "$1" | awk '/Requests\/sec/ {print $2}'; }
echo "reply body: ${#REPLY} bytes (same body from both servers); load average: $(cut -d" " -f1-3 /proc/loadavg)"
wrk -t1 -c64 -d2s -s "$WORK/post.lua" http://127.0.0.1:$MOCK_PORT/v1/chat/completions >/dev/null  # warm-up
# Consecutive runs on one machine differ by up to ±15 %: interleave the two servers and compare medians.
ms=(); ns=()
for _ in $(seq "$ROUNDS"); do
  ms+=("$(rps http://127.0.0.1:$MOCK_PORT/v1/chat/completions)")
  ns+=("$(rps http://127.0.0.1:$NGINX_PORT/v1/chat/completions)")
done
MOCK_RPS=$(median "${ms[@]}"); NGINX_RPS=$(median "${ns[@]}")
echo "mock-upstream: $MOCK_RPS req/s   (median of $ROUNDS interleaved rounds: ${ms[*]}; wrk -t1 -c64 -d${DURATION}s, POST /v1/chat/completions, no faults)"
echo "nginx 1 worker: $NGINX_RPS req/s   (rounds: ${ns[*]}; return 200 from memory)"
awk -v m="$MOCK_RPS" -v n="$NGINX_RPS" 'BEGIN { printf "ratio mock/nginx: %.2f (target >= 0.80)\n", m / n }'
kill $MOCK_PID $NGINX_PID; wait $MOCK_PID 2>/dev/null || true; wait $NGINX_PID 2>/dev/null || true
PIDS=()

# --- 2. 10,000 held connections at 100 ms latency ------------------------------------------
"$MOCK" --listen 127.0.0.1:$MOCK_PORT --seed 1 --workers 1 --latency 100ms --log warn >"$WORK/mock2.log" 2>&1 &
MOCK_PID=$!; PIDS+=($MOCK_PID)
wait_port $MOCK_PORT
RESULT=$(python3 bench/mock-upstream/hold_connections.py 127.0.0.1 $MOCK_PORT $MOCK_PID $CONNS 8)
STATS=$(curl -s http://127.0.0.1:$MOCK_PORT/_mock/stats)
echo "held connections: $RESULT"
python3 - "$STATS" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
print(f"server saw: connections_peak={s['connections_peak']} concurrent_requests_peak={s['concurrent_requests_peak']} requests_total={s['requests_total']}")
PY
echo "$RESULT" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("RSS peak with %d connections at 100 ms latency: %s MiB (target < 200 MiB)" % (r["connections"], r["rss_peak_mib"]))'

# --- 3. streams: mock CPU per streamed request and lateness ----------------------------------
cargo build --release -q --bin relaybench
RB=$CARGO_TARGET_DIR/release/relaybench
stream_row() {  # USERS
  local users=$1
  "$MOCK" --listen 127.0.0.1:$MOCK_PORT --seed 1 --workers 1 --ttft 50ms --inter-token 10ms \
    --output-tokens 64 --log warn >"$WORK/mock3.log" 2>&1 &
  local pid=$!; PIDS+=($pid)
  wait_port $MOCK_PORT
  cat > "$WORK/streams.toml" <<T
name = "streams"
[[target]]
name = "mock"
url = "http://127.0.0.1:$MOCK_PORT"
model = "gpt-4o-mini"
[workload]
model = "closed"
users = $users
duration = "${DURATION}s"
warmup = "2s"
grace = "3s"
[[workload.mix]]
kind = "chat"
stream = true
prompts = ["Tell me a story."]
[client]
max_connections = $users
max_idle_connections = $users
T
  local c0 r0
  c0=$(awk '{print $14+$15}' /proc/$pid/stat)
  r0=$(curl -s http://127.0.0.1:$MOCK_PORT/_mock/stats | python3 -c 'import json,sys;print(json.load(sys.stdin)["requests_total"])')
  "$RB" run "$WORK/streams.toml" --out "$WORK/streams-$users" --quiet >/dev/null 2>&1 || true
  local c1 stats
  c1=$(awk '{print $14+$15}' /proc/$pid/stat)
  stats=$(curl -s http://127.0.0.1:$MOCK_PORT/_mock/stats)
  python3 - "$stats" "$c0" "$c1" "$r0" "$users" "$WORK/streams-$users" <<'PY'
import glob, json, os, sys
s = json.loads(sys.argv[1]); c0, c1, r0, users = (int(x) for x in sys.argv[2:6])
req = s['requests_total'] - r0
cpu_ms = (c1 - c0) * 1000 / os.sysconf('SC_CLK_TCK')
res = glob.glob(sys.argv[6] + '/**/results.json', recursive=True)
rps = json.load(open(res[0]))['runs'][0]['rps'] if res else 0
ideal = users / 0.69
L = s['lateness']
print(f"{users:>6} streams: mock CPU {cpu_ms / max(req, 1):.3f} ms per streamed request (target <= 0.4; {req} requests), "
      f"lateness p99 first {L['first']['p99_ms']} ms, later {L['later']['p99_ms']} ms (target <= 2), "
      f"relaybench {rps:.0f} req/s of ideal {ideal:.0f} ({rps / ideal * 100:.1f} %)")
PY
  kill $pid; wait $pid 2>/dev/null || true
  PIDS=()
}
echo "== 3. streams: --workers 1, 64 tokens, ttft 50 ms, inter_token 10 ms, relaybench run (closed, ${DURATION}s) on the same machine"
for users in 256 1024; do stream_row $users; done
