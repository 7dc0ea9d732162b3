#!/usr/bin/env bash
# Instructions per request of the generator's HTTP/1.1 request path (not a test): callgrind
# counts instructions, not seconds, so the figure repeats on a noisy machine. Each binary runs
# `quick URL -c 64 -n N --threads 1` against nginx (1 worker, static JSON) for N = 20,000 and
# N = 60,000; the difference divided by 40,000 is the cost of one request, start-up and report
# writing cancelled out. Loopback only; nginx is stopped by pid.
#   bash bench/generator/instructions.sh [BINARY...]   (default: this tree's release build)
# Several binaries (e.g. an older commit's build) are measured in the same run, side by side.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(pwd)/target}
PORT=${PORT:-18091}
source bench/lib.sh
bench_init gen-instructions
need_peers valgrind
if [ $# -eq 0 ]; then
  cargo build --release -q --bin relaybench
  set -- "$CARGO_TARGET_DIR/release/relaybench"
fi

start_nginx "$PORT" '{"ok":true}'

# Total instructions of one run of `quick` with N requests.
total() {
  valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" "$1" quick "http://127.0.0.1:$PORT/" \
    -c 64 -n "$2" --threads 1 --out "$WORK/rb" --quiet >/dev/null 2>"$WORK/cg.log"
  sed -n 's/^==[0-9]*== Collected : //p' "$WORK/cg.log" | tr -d ' '
}

for bin in "$@"; do
  a=$(total "$bin" 20000)
  b=$(total "$bin" 60000)
  echo "$bin: $(( (b - a) / 40000 )) instructions per request"
done
