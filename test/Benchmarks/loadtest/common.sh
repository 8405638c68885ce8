# Shared by the load generator benchmarks (sourced, not run). Expects $repo and a name in $bench.
# Publishes (Release) the gateway, the load tool and the Kestrel echo backend into a scratch directory, and starts
# the gateway, the backend and nginx on loopback. Every process goes into `pids` and is stopped, by PID, on exit.
# LOADTEST_BUILD_DIR: reuse an earlier scratch directory's builds (gateway/, loadtest/, backend/) instead of publishing.
work="$(mktemp -d "/tmp/gateway-$bench-bench.XXXXXX")"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
echo "work dir $work" >&2

if [ -n "${LOADTEST_BUILD_DIR:-}" ]; then
  build="$LOADTEST_BUILD_DIR"
else
  build="$work"
  dotnet publish "$repo/src/Gateway" -c Release -o "$build/gateway" --nologo -v quiet >/dev/null
  dotnet publish "$repo/src/Gateway.LoadTest" -c Release -o "$build/loadtest" --nologo -v quiet >/dev/null
  dotnet build "$repo/test/Gateway.IntegrationTests" -c Release -o "$build/backend" --nologo -v quiet >/dev/null
fi
if ! command -v nginx >/dev/null; then apt-get install -y nginx >/dev/null; fi

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime, in 1/100 s
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
# Kernel memory of sockets, system-wide (KB): the slab objects behind every TCP socket and its file (TCP, inode,
# file, epoll entry, port bucket). /proc/net/sockstat "TCP mem" counts only buffer pages, near 0 for idle sockets.
socket_slab_kb() { awk '$1 ~ /^(TCP|sock_inode_cache|filp|eventpoll_epi|tcp_bind_bucket|tcp_bind2_bucket)$/ {s += $2 * $4} END {printf "%d", s / 1024}' /proc/slabinfo; }
tcp_mem_pages() { awk '/^TCP:/{for(i=1;i<=NF;i++) if($i=="mem") print $(i+1)}' /proc/net/sockstat; }
wait_for() { # file regex
  for _ in $(seq 1 300); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for /$2/ in $1" >&2; cat "$1" >&2; return 1
}
jq_or_py() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

# The load tool: bounded by its own counts and --duration; `timeout` is the backstop.
loadtest() { # timeout-seconds args...
  local t="$1"; shift
  timeout "$t" dotnet "$build/loadtest/Gateway.LoadTest.dll" "$@" &
  local p=$!; pids+=("$p"); wait "$p"
}

start_backend() { # h1|h2 -> sets backend_port
  mkfifo "$work/backend-$1.in"
  sleep 100000 > "$work/backend-$1.in" & pids+=($!)
  local flag=""; [ "$1" = h2 ] && flag="--http2"
  dotnet "$build/backend/Gateway.IntegrationTests.dll" echo-backend $flag < "$work/backend-$1.in" > "$work/backend-$1.log" 2>&1 & pids+=($!)
  backend_pid=$!
  wait_for "$work/backend-$1.log" 'listening on port [0-9]+'
  backend_port="$(grep -oE '[0-9]+$' "$work/backend-$1.log" | head -1)"
}

# Gateway in Release, Production environment, loopback listeners, admission limits far above the load, workstation
# concurrent GC and no thread-pool spinning, as in the Dockerfile. Sets gateway_pid, gateway_port, gateway_mgmt.
# GATEWAY_EXTRA_ENV: more NAME=value settings for the gateway (space-separated), for tuning experiments.
start_gateway() { # label h1|h2 backend_port
  local log="$work/gateway-$1.log" version=()
  [ "$2" = h2 ] && version=(ReverseProxy__Clusters__c__HttpRequest__Version=2 ReverseProxy__Clusters__c__HttpRequest__VersionPolicy=RequestVersionExact)
  env ASPNETCORE_ENVIRONMENT=Production DOTNET_gcServer=0 DOTNET_gcConcurrent=1 DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0 \
    Gateway__Server__Public__Address=127.0.0.1 Gateway__Server__Public__Port=0 \
    Gateway__Server__Management__Address=127.0.0.1 Gateway__Server__Management__Port=0 \
    Gateway__Admission__Rate__PermitsPerSecond=100000 Gateway__Admission__Rate__Burst=100000 \
    Gateway__Admission__PerClient__PermitsPerSecond=0 Gateway__Admission__PerClient__MaxSessions=0 \
    Gateway__Admission__Watermarks__Low=1000000 Gateway__Admission__Watermarks__High=1000000 Gateway__Admission__Watermarks__Critical=1000000 \
    ReverseProxy__Routes__r__ClusterId=c ReverseProxy__Routes__r__Match__Path='/echo/{**rest}' \
    ReverseProxy__Clusters__c__Destinations__d1__Address="http://127.0.0.1:$3" "${version[@]}" \
    ${GATEWAY_EXTRA_ENV:-} \
    dotnet "$build/gateway/Gateway.dll" > "$log" 2>&1 &
  gateway_pid=$!; pids+=("$gateway_pid")
  wait_for "$log" 'Gateway listening: public http://127\.0\.0\.1:[0-9]+'
  gateway_port="$(grep -oE 'public http://127\.0\.0\.1:[0-9]+' "$log" | head -1 | grep -oE '[0-9]+$')"
  gateway_mgmt="$(grep -oE 'management http://127\.0\.0\.1:[0-9]+' "$log" | head -1 | grep -oE '[0-9]+$')"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# nginx 1.x as the reference proxy, one foreground process from test/Benchmarks/loadtest/nginx.conf. Sets nginx_pid, nginx_port.
start_nginx() { # label backend_port
  local dir="$work/nginx-$1"; mkdir -p "$dir"
  nginx_port="$(free_port)"
  sed -e "s#@WORK@#$dir#g" -e "s#@PORT@#$nginx_port#g" -e "s#@BACKEND@#127.0.0.1:$2#g" "$repo/test/Benchmarks/loadtest/nginx.conf" > "$dir/nginx.conf"
  nginx -p "$dir" -c "$dir/nginx.conf" > "$dir/stdout.log" 2>&1 &
  nginx_pid=$!; pids+=("$nginx_pid")
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$nginx_port") 2>/dev/null && return 0; sleep 0.1; done
  echo "nginx did not start" >&2; cat "$dir/nginx-error.log" "$dir/stdout.log" >&2; return 1
}

stop() { kill "$@" 2>/dev/null || true; wait "$@" 2>/dev/null || true; }
fd_limit="$(ulimit -Hn)"
