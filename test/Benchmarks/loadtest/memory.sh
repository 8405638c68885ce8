#!/usr/bin/env bash
# Memory per idle session (issue 7): N WebSocket sessions held idle through the gateway (HTTP/1.1 backend leg), the
# gateway (HTTP/2 backend leg, RFC 8441 to a Kestrel h2c backend) and nginx (HTTP/1.1 to the backend), one fresh
# proxy process per measurement, all in one run. Reports the proxy's RSS delta per session (RSS while the N sessions
# are open minus RSS before, after a 200-session warm-up) and the kernel's TCP memory (/proc/net/sockstat "TCP mem",
# pages of socket buffers) before and at the hold, and the kernel's socket slab memory (/proc/slabinfo: TCP, inode,
# file, epoll, port buckets; system-wide, so client, proxy and backend sockets together) delta per session.
# Usage: test/Benchmarks/loadtest/memory.sh [sessions...]   (default: 2000 5000 9000 18000)
# MEMORY_TARGETS: which of gateway-h1 gateway-h2 gateway-yarp nginx to measure (default: all four); gateway-yarp is
# the gateway with Gateway:Sessions:LeanPath=false (every session relayed by YARP inside its request, the issue-7
# build's path), so lean and YARP are compared in one run. For the gateway, the GC's own figures at the hold are
# printed too (heap after the last collection, its fragmentation, committed), from the management port's /metrics.
# A proxy with an HTTP/1.1 backend leg holds 2 sockets per session; under the 20,000 open-file hard limit per
# process it cannot hold more than ~9,900 sessions, so those rows are skipped above that (the HTTP/2 leg
# multiplexes up to 100 sessions per backend connection and is measured).
# Traffic stays on 127.0.0.0/8; clients are spread over workers (<= 8,000 sockets each) and 127.0.0.2-127.0.0.9.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
bench=loadtest-memory
sizes=("$@"); [ "${#sizes[@]}" -eq 0 ] && sizes=(2000 5000 9000 18000)
ramp="${LOADTEST_RAMP:-1000}"
# shellcheck source=common.sh
source "$here/common.sh"

start_backend h1; h1_port="$backend_port"
start_backend h2; h2_port="$backend_port"

established() { ss -Htn state established "( sport = :$1 )" 2>/dev/null | wc -l; }

measure() { # target N -> prints one table row, sets last_kb
  local target="$1" n="$2" pid port
  case "$target" in
    gateway-h1) start_gateway "$target-$n" h1 "$h1_port"; pid=$gateway_pid; port=$gateway_port; url="ws://127.0.0.1:$port/echo/" ;;
    gateway-h2) start_gateway "$target-$n" h2 "$h2_port"; pid=$gateway_pid; port=$gateway_port; url="ws://127.0.0.1:$port/echo/" ;;
    gateway-yarp) GATEWAY_EXTRA_ENV="${GATEWAY_EXTRA_ENV:-} Gateway__Sessions__LeanPath=false" start_gateway "$target-$n" h1 "$h1_port"; pid=$gateway_pid; port=$gateway_port; url="ws://127.0.0.1:$port/echo/" ;;
    nginx)      start_nginx "$n" "$h1_port"; pid=$nginx_pid; port=$nginx_port; url="ws://127.0.0.1:$port/echo/" ;;
  esac
  # Warm-up: JIT, pools, nginx's connection array are not what a session costs.
  loadtest 60 hold --url "$url" --sessions 200 --ramp 1000 --hold 1 --source-ips 127.0.0.2-127.0.0.9 > "$work/warm-$target-$n.log" 2>&1 || true
  sleep 3
  local rss0 mem0 slab0; rss0="$(rss_kb "$pid")"; mem0="$(tcp_mem_pages)"; slab0="$(socket_slab_kb)"
  local workers=$(( (n + 7999) / 8000 ))
  local hold=$(( 10 ))
  timeout $(( n / ramp + hold + 120 )) dotnet "$build/loadtest/Gateway.LoadTest.dll" hold --url "$url" --sessions "$n" --ramp "$ramp" \
    --hold "$hold" --workers "$workers" --source-ips 127.0.0.2-127.0.0.9 --json "$work/hold-$target-$n.json" > "$work/hold-$target-$n.log" 2>&1 &
  local client=$!; pids+=("$client")
  # Wait for the ramp to finish (the proxy's established client sockets), then let it settle.
  local seen=0
  for _ in $(seq 1 $(( (n / ramp + 60) * 5 ))); do seen="$(established "$port")"; [ "$seen" -ge "$n" ] && break; sleep 0.2; done
  sleep 3
  local rss1 mem1 slab1; rss1="$(rss_kb "$pid")"; mem1="$(tcp_mem_pages)"; slab1="$(socket_slab_kb)"; seen="$(established "$port")"
  if [ "$target" != nginx ]; then
    curl -s "http://127.0.0.1:$gateway_mgmt/metrics" | awk -v t="$target" -v n="$n" '
      /^dotnet_gc_last_collection_heap_size_bytes/ {h += $2}
      /^dotnet_gc_last_collection_heap_fragmentation_size_bytes/ {f += $2}
      /^dotnet_gc_last_collection_memory_committed_size_bytes/ {c = $2}
      END {printf "gc at hold (%s, %d): heap %.1f MiB, fragmentation %.1f MiB, committed %.1f MiB\n", t, n, h/1048576, f/1048576, c/1048576}' >&2
  fi
  wait "$client" || echo "load tool exit $? ($target $n)" >&2
  local opened open_end failed
  opened="$(jq_or_py "$work/hold-$target-$n.json" "d['sessions']['opened']")"
  open_end="$(jq_or_py "$work/hold-$target-$n.json" "d['sessions']['openAtEnd']")"
  failed="$(jq_or_py "$work/hold-$target-$n.json" "d['sessions']['failed']")"
  last_kb="$(echo "($rss1 - $rss0) / $n" | bc -l)"
  local sock_kb; sock_kb="$(echo "($slab1 - $slab0) / $n" | bc -l)"
  row="| $n | $target | $rss0 | $rss1 | $(printf %.2f "$last_kb") | $mem0 → $mem1 | $(printf %.2f "$sock_kb") | $seen | $opened / $open_end / $failed |"
  stop "$pid"; sleep 2
}

echo "idle sessions, ramp ${ramp}/s, hold 10 s; $(nproc) cores; dotnet $(dotnet --list-runtimes | awk '/NETCore.App/{v=$2} END{print v}'); $(nginx -v 2>&1)"
echo "| sessions | target | RSS before (KB) | RSS at hold (KB) | RSS KB/session | TCP buffer pages before → at hold | socket slab KB/session (system-wide) | proxy client sockets at sample | opened / open at end / failed | RSS ratio gateway/nginx |"
echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for n in "${sizes[@]}"; do
  declare -A kb=() rows=()
  for target in ${MEMORY_TARGETS:-gateway-h1 gateway-h2 gateway-yarp nginx}; do
    if [ "$target" != gateway-h2 ] && [ $(( 2 * n + 200 )) -gt "$fd_limit" ]; then
      rows[$target]="| $n | $target | — | — | skipped: needs $((2 * n)) sockets in one process, limit $fd_limit | | | | | |"; continue
    fi
    measure "$target" "$n"; kb[$target]="$last_kb"; rows[$target]="$row"
  done
  for target in ${MEMORY_TARGETS:-gateway-h1 gateway-h2 gateway-yarp nginx}; do
    ratio="—"
    if [ -n "${kb[$target]:-}" ] && [ -n "${kb[nginx]:-}" ] && [ "$target" != nginx ]; then ratio="$(printf %.2f "$(echo "${kb[$target]} / ${kb[nginx]}" | bc -l)")"; fi
    if [[ "${rows[$target]}" == *skipped* ]]; then echo "${rows[$target]}"; else echo "${rows[$target]} $ratio |"; fi
  done
done
