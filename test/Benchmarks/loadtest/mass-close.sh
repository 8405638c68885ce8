#!/usr/bin/env bash
# What closing many sessions at once costs the gateway (issue 13): N idle sessions through the gateway (the lean path,
# HTTP/1.1 backend leg) and through the same gateway with the lean path off ("yarp"), then all N closed by their
# clients at the same moment (the load tool's hold ends with every session's close handshake at once, as when a
# load balancer fails over or a client fleet restarts). Reports, per target: the managed bytes the gateway allocated
# from the moment all N were open until none was left (dotnet_gc_heap_total_allocated_bytes_total: the garbage the
# mass close made), per session; the GCs it caused; the peak RSS during the close (sampled every 100 ms) against the
# RSS before it; and the heap after the last GC once it was over.
# Usage: test/Benchmarks/loadtest/mass-close.sh [sessions=9000] [rounds=1]; LOADTEST_BUILD_DIR as in common.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
bench=loadtest-mass-close
n="${1:-9000}"
rounds="${2:-1}"
# shellcheck source=common.sh
source "$here/common.sh"
start_backend h1
established() { ss -Htn state established "( sport = :$1 )" 2>/dev/null | wc -l; }
metric() { curl -s "http://127.0.0.1:$2/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%.0f", s}'; }

echo "mass close of $n idle sessions; $(nproc) cores; dotnet $(dotnet --list-runtimes | awk '/NETCore.App/{v=$2} END{print v}')"
echo "| round | target | close took s | allocated by the close MB | allocated per session KB | GCs gen0/1/2 during it | RSS before (MB) | peak RSS during it (MB) | heap after last GC, after (MB) |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for round in $(seq 1 "$rounds"); do
  for target in gateway yarp; do
    extra=""; [ "$target" = yarp ] && extra="Gateway__Sessions__LeanPath=false"
    GATEWAY_EXTRA_ENV="${GATEWAY_EXTRA_ENV:-} $extra" start_gateway "$target-$round" h1 "$backend_port"
    url="ws://127.0.0.1:$gateway_port/echo/"
    loadtest 60 hold --url "$url" --sessions 200 --ramp 1000 --hold 1 --source-ips 127.0.0.2-127.0.0.9 > "$work/warm-$target-$round.log" 2>&1 || true
    hold=$(( n / 1000 + 15 ))
    timeout $(( hold + 120 )) dotnet "$build/loadtest/Gateway.LoadTest.dll" hold --url "$url" --sessions "$n" --ramp 1000 --hold "$hold" \
      --workers $(( (n + 7999) / 8000 )) --source-ips 127.0.0.2-127.0.0.9 > "$work/hold-$target-$round.log" 2>&1 &
    client=$!; pids+=("$client")
    for _ in $(seq 1 $(( (n / 1000 + 60) * 5 ))); do [ "$(established "$gateway_port")" -ge "$n" ] && break; sleep 0.2; done
    sleep 2
    a0="$(metric dotnet_gc_heap_total_allocated_bytes_total "$gateway_mgmt")"
    g0="$(metric 'dotnet_gc_collections_total{gc_heap_generation="gen0"}' "$gateway_mgmt")"
    g1="$(metric 'dotnet_gc_collections_total{gc_heap_generation="gen1"}' "$gateway_mgmt")"
    g2="$(metric 'dotnet_gc_collections_total{gc_heap_generation="gen2"}' "$gateway_mgmt")"
    rss0="$(rss_kb "$gateway_pid")"; peak="$rss0"
    # The hold ends: every client closes at once. Sample RSS until the gateway has no session left.
    started=""; t0=""
    for _ in $(seq 1 $(( (hold + 120) * 10 ))); do
      active="$(metric gateway_sessions_active "$gateway_mgmt")"
      r="$(rss_kb "$gateway_pid")"; [ "$r" -gt "$peak" ] && peak="$r"
      if [ -z "$started" ] && [ "$active" -lt "$n" ]; then started=1; t0="$(date +%s.%N)"; fi
      if [ -n "$started" ] && [ "$active" -eq 0 ]; then break; fi
      sleep 0.1
    done
    t1="$(date +%s.%N)"
    wait "$client" || true
    sleep 1
    a1="$(metric dotnet_gc_heap_total_allocated_bytes_total "$gateway_mgmt")"
    h1="$(metric dotnet_gc_last_collection_heap_size_bytes "$gateway_mgmt")"
    d0=$(( $(metric 'dotnet_gc_collections_total{gc_heap_generation="gen0"}' "$gateway_mgmt") - g0 ))
    d1=$(( $(metric 'dotnet_gc_collections_total{gc_heap_generation="gen1"}' "$gateway_mgmt") - g1 ))
    d2=$(( $(metric 'dotnet_gc_collections_total{gc_heap_generation="gen2"}' "$gateway_mgmt") - g2 ))
    printf '| %s | %s | %.2f | %.1f | %.2f | %s/%s/%s | %.0f | %.0f | %.1f |\n' "$round" "$target" "$(echo "$t1 - ${t0:-$t1}" | bc -l)" \
      "$(echo "($a1 - $a0) / 1048576" | bc -l)" "$(echo "($a1 - $a0) / 1024 / $n" | bc -l)" "$d0" "$d1" "$d2" \
      "$(echo "$rss0 / 1024" | bc -l)" "$(echo "$peak / 1024" | bc -l)" "$(echo "$h1 / 1048576" | bc -l)"
    stop "$gateway_pid"; sleep 2
  done
done
