#!/usr/bin/env bash
# What an idle session costs the gateway with the heartbeat on versus off (issue 6), in one run: N sessions from
# npm `ws` (which answers pings), held idle long enough for several rounds of gateway pings; gateway RSS delta per
# session, for a Kestrel backend over HTTP/1.1 and over HTTP/2.
# Usage: test/Benchmarks/heartbeat/idle-memory.sh [sessions=5000] [hold seconds=20] [rounds=1]
# GATEWAY_GC_ENV: the gateway's GC settings, one or more variants separated by ';', each a space-separated list of
#   environment assignments (default: workstation GC, 'DOTNET_gcServer=0'); every round measures each variant, e.g.
#   GATEWAY_GC_ENV='DOTNET_gcServer=0;DOTNET_gcServer=1' compares workstation and server GC side by side.
# GATEWAY_BENCH_HEARTBEAT: which heartbeat settings to measure (default 'false true').
# RSS moves by about 1 KB per session between identical runs on this machine: use several rounds.
# Needs the .NET SDK, node and npm (installs `ws` into a scratch directory). Traffic stays on 127.0.0.1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
sessions="${1:-5000}"
hold="${2:-20}"
rounds="${3:-1}"
bench=heartbeat
IFS=';' read -r -a gc_variants <<< "${GATEWAY_GC_ENV:-DOTNET_gcServer=0}"
read -r -a heartbeats <<< "${GATEWAY_BENCH_HEARTBEAT:-false true}"
# shellcheck source=../bench-common.sh
source "$here/../bench-common.sh"
cp "$here/hold.mjs" "$work/"
dotnet build "$repo/test/Gateway.IntegrationTests" -c Release -o "$work/backend" --nologo -v quiet >/dev/null

rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }

start_backend() { # http2? -> sets backend_port
  mkfifo "$work/backend-$1.in"
  sleep 100000 > "$work/backend-$1.in" & pids+=($!)
  local flag=""; [ "$1" = h2 ] && flag="--http2"
  dotnet "$work/backend/Gateway.IntegrationTests.dll" echo-backend $flag < "$work/backend-$1.in" > "$work/backend-$1.log" 2>&1 & pids+=($!)
  wait_for "$work/backend-$1.log" 'listening on port [0-9]+'
  backend_port="$(grep -oE '[0-9]+$' "$work/backend-$1.log" | head -1)"
}

measure() { # label heartbeat(true|false) leg(h1|h2) backend_port gc-env
  local log="$work/gateway-$1.log"
  local version=() gc
  read -r -a gc <<< "$5"
  [ "$3" = h2 ] && version=(ReverseProxy__Clusters__c__HttpRequest__Version=2 ReverseProxy__Clusters__c__HttpRequest__VersionPolicy=RequestVersionExact)
  env ASPNETCORE_ENVIRONMENT=Production "${gc[@]}" \
    Gateway__Server__Public__Address=127.0.0.1 Gateway__Server__Public__Port=0 \
    Gateway__Server__Management__Address=127.0.0.1 Gateway__Server__Management__Port=0 \
    Gateway__Admission__Rate__PermitsPerSecond=100000 Gateway__Admission__Rate__Burst=100000 \
    Gateway__Admission__PerClient__PermitsPerSecond=0 Gateway__Admission__PerClient__MaxSessions=0 \
    Gateway__Admission__Watermarks__Low=1000000 Gateway__Admission__Watermarks__High=1000000 Gateway__Admission__Watermarks__Critical=1000000 \
    Gateway__Heartbeat__Enabled="$2" Gateway__Heartbeat__ProbeAfter=00:00:05 Gateway__Heartbeat__PongTimeout=00:00:05 \
    ReverseProxy__Routes__r__ClusterId=c ReverseProxy__Routes__r__Match__Path='/echo/{**rest}' \
    ReverseProxy__Clusters__c__Destinations__d1__Address="http://127.0.0.1:$4" "${version[@]}" \
    dotnet "$work/gateway/Gateway.dll" > "$log" 2>&1 &
  local gateway=$!
  pids+=("$gateway")
  wait_for "$log" 'Gateway listening: public http://127\.0\.0\.1:[0-9]+'
  # Server GC runs one ".NET Server GC" thread per heap; 0 means workstation GC (checks the setting took effect).
  local gc_threads; gc_threads="$(cat /proc/"$gateway"/task/*/comm 2>/dev/null | grep -c 'Server GC' || true)"
  local port; port="$(grep -oE 'public http://127\.0\.0\.1:[0-9]+' "$log" | head -1 | grep -oE '[0-9]+$')"
  # Warm up: a few hundred sessions opened and closed, so the JIT and pools are not counted as sessions.
  timeout 60 node "$work/hold.mjs" "ws://127.0.0.1:$port/echo/" 300 > "$work/warm-$1.log" & local warm=$!
  wait_for "$work/warm-$1.log" '^open' && kill "$warm" && wait "$warm" 2>/dev/null || true
  sleep 3
  local before; before="$(rss_kb "$gateway")"
  timeout $((hold + 120)) node "$work/hold.mjs" "ws://127.0.0.1:$port/echo/" "$sessions" > "$work/hold-$1.log" & local client=$!
  pids+=("$client")
  for _ in $(seq 1 600); do grep -q '^open' "$work/hold-$1.log" && break; sleep 0.1; done
  sleep "$hold"
  local after; after="$(rss_kb "$gateway")"
  local metrics; metrics="$(curl -s "http://127.0.0.1:$(grep -oE 'management http://127\.0\.0\.1:[0-9]+' "$log" | head -1 | grep -oE '[0-9]+$')/metrics")"
  local pings; pings="$(echo "$metrics" | awk '/^gateway_heartbeat_pings_total/{s+=$2} END{print s+0}')"
  # Managed heap by generation after the last collection: the pinned heap (poh) holds Kestrel's and the sockets'
  # pooled I/O blocks, which stay pooled after a burst; gen2 holds what the sessions keep.
  local heap; heap="$(echo "$metrics" | awk -F'[{}" ]+' '/^dotnet_gc_last_collection_heap_size_bytes/{for(i=1;i<=NF;i++) if($i ~ /generation=$/) g=$(i+1); v[g]=$NF} END{printf "%.1f / %.1f", v["gen2"]/1048576, v["poh"]/1048576}')"
  local lost; lost="$(grep -oE 'closed [0-9]+' "$work/hold-$1.log" | tail -1 | grep -oE '[0-9]+' || echo 0)"
  printf '| %s | %s (%s) | %s | %s | %d | %d | %.2f | %s | %d | %s |\n' "$1" "$5" "$gc_threads" "$2" "$3" "$before" "$after" "$(echo "($after - $before) / $sessions" | bc -l)" "$heap" "${pings:-0}" "${lost:-0}"
  kill "$client" "$gateway" 2>/dev/null || true
  wait "$client" "$gateway" 2>/dev/null || true
  sleep 2
}

start_backend h1; h1_port="$backend_port"
start_backend h2; h2_port="$backend_port"
echo "$sessions idle sessions held ${hold} s (gateway pings every 5 s when on); $(nproc) cores; $(dotnet --version)"
echo "| run | GC env (server GC threads) | heartbeat | backend leg | RSS before (KB) | RSS after (KB) | KB per session | heap gen2 / pinned (MiB) | pings sent | sessions lost |"
echo "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for round in $(seq 1 "$rounds"); do
  for leg in h1 h2; do
    port_var="${leg}_port"
    for v in "${!gc_variants[@]}"; do
      for heartbeat in "${heartbeats[@]}"; do
        label="$leg-$([ "$heartbeat" = true ] && echo on || echo off)-$round"
        if [ "${#gc_variants[@]}" -gt 1 ]; then label="$label-gc$((v + 1))"; fi
        measure "$label" "$heartbeat" "$leg" "${!port_var}" "${gc_variants[$v]}"
      done
    done
  done
done
