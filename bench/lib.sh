# Shared by the benchmark scripts (sourced, not run): a work folder, processes stopped by pid
# on exit, the peer tools installed when missing, and the median of interleaved rounds.
# Usage: source bench/lib.sh; bench_init NAME; need_peers [time]

# Creates $WORK and arranges for every pid in PIDS to be stopped, and $WORK removed, on exit.
bench_init() {
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  PIDS=()
  trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
}

# Installs wrk, nginx and curl (plus any extra Debian packages named) when missing; sets NGINX.
need_peers() {
  local need=()
  command -v wrk >/dev/null || need+=(wrk)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
  command -v curl >/dev/null || need+=(curl)
  for extra in "$@"; do [ -x "/usr/bin/$extra" ] || need+=("$extra"); done
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
}

# The median of its arguments, rounded: consecutive runs here differ by up to ±15 %, so only
# medians of interleaved rounds are compared.
median() { python3 -c "import statistics,sys;print(round(statistics.median(float(x) for x in sys.argv[1:])))" "$@"; }

# Waits until something answers HTTP on 127.0.0.1:PORT (5 s at most).
wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.05; done; echo "port $1 did not open" >&2; exit 1; }
# Like wait_port, for a server that answers no GET: a bare TCP connect.
wait_connect() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 did not open" >&2; exit 1; }

# Starts nginx (one worker, keep-alive without limit) on 127.0.0.1:PORT answering every
# request with 200 and the JSON BODY (single quotes escaped here); its pid joins PIDS.
start_nginx() {
  local port=$1 body=${2//\'/\\\'}
  cat > "$WORK/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $WORK; proxy_temp_path $WORK; fastcgi_temp_path $WORK; uwsgi_temp_path $WORK; scgi_temp_path $WORK;
  server { listen 127.0.0.1:$port; location / { default_type application/json; return 200 '$body'; } }
}
NGX
  "$NGINX" -c "$WORK/nginx.conf" -p "$WORK" & PIDS+=($!)
  wait_port "$port"
}
