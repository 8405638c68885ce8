#!/usr/bin/env bash
# Issue 13's spike: memory per idle session of a minimal proxy whose handshake goes through Kestrel's HTTP/1.1 layer
# and whose relay then runs (request) inside the request, (detach) in connection middleware with the HTTP layer
# seeing the connection's real heartbeat feature, (detach-hidden) in connection middleware with the HTTP layer's
# heartbeat callback dropped after the request; nginx in the same run. RSS delta per session at N idle sessions.
# Usage: test/Benchmarks/loadtest/lean-spike.sh [sessions...]   (default: 5000 9000); LOADTEST_BUILD_DIR as in common.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
bench=lean-spike
sizes=("$@"); [ "${#sizes[@]}" -eq 0 ] && sizes=(5000 9000)
# shellcheck source=common.sh
source "$here/common.sh"
dotnet build "$repo/test/Benchmarks/LeanSpike" -c Release -o "$work/spike" --nologo -v quiet >/dev/null
start_backend h1
established() { ss -Htn state established "( sport = :$1 )" 2>/dev/null | wc -l; }

measure() { # target N
  local target="$1" n="$2" pid port log="$work/$1-$2.log"
  if [ "$target" = nginx ]; then
    start_nginx "$n" "$backend_port"; pid=$nginx_pid; port=$nginx_port
  else
    env DOTNET_gcServer=0 DOTNET_gcConcurrent=1 DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0 \
      dotnet "$work/spike/LeanSpike.dll" "$target" "$backend_port" > "$log" 2>&1 & pid=$!; pids+=("$pid")
    wait_for "$log" 'listening on port [0-9]+'
    port="$(grep -oE '[0-9]+$' "$log" | head -1)"
  fi
  local url="ws://127.0.0.1:$port/echo/"
  loadtest 60 hold --url "$url" --sessions 200 --ramp 1000 --hold 1 --source-ips 127.0.0.2-127.0.0.9 > "$work/warm-$target-$n.log" 2>&1 || true
  sleep 3
  local rss0; rss0="$(rss_kb "$pid")"
  timeout $(( n / 1000 + 130 )) dotnet "$build/loadtest/Gateway.LoadTest.dll" hold --url "$url" --sessions "$n" --ramp 1000 \
    --hold 10 --workers $(( (n + 7999) / 8000 )) --source-ips 127.0.0.2-127.0.0.9 --json "$work/hold-$target-$n.json" > "$work/hold-$target-$n.log" 2>&1 &
  local client=$!; pids+=("$client")
  for _ in $(seq 1 $(( (n / 1000 + 60) * 5 ))); do [ "$(established "$port")" -ge "$n" ] && break; sleep 0.2; done
  sleep 3
  local rss1; rss1="$(rss_kb "$pid")"
  wait "$client" || true
  local opened; opened="$(jq_or_py "$work/hold-$target-$n.json" "d['sessions']['opened']")"
  echo "| $n | $target | $rss0 | $rss1 | $(printf %.2f "$(echo "($rss1 - $rss0) / $n" | bc -l)") | $opened |"
  stop "$pid"; sleep 2
}

echo "| sessions | proxy | RSS before (KB) | RSS at hold (KB) | RSS KB/session | opened |"
echo "| ---: | --- | ---: | ---: | ---: | ---: |"
for n in "${sizes[@]}"; do
  for target in request detach detach-hidden nginx; do measure "$target" "$n"; done
done
