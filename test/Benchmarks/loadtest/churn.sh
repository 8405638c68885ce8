#!/usr/bin/env bash
# Does the gateway give memory back after churn? (issue 7) The load tool's `storm` makes N connect/disconnect cycles
# through the gateway (HTTP/1.1 backend leg; each accepted session closed with 1000 right away, --linger-ms 0).
# Gateway RSS at baseline (after a warm-up storm), right after the churn, and after an idle wait (no forced GC: it
# cannot be triggered from outside). PASS when RSS after the wait is within 10% of baseline and the management
# port's gateway_sessions_active is 0.
# With passes > 1 the churn is repeated (each pass followed by the idle wait): a leak keeps growing pass after pass, a
# heap or pool that has found its working size does not. Managed heap after the last GC (sum of generations) and the
# GC's committed memory come from the management port's /metrics.
# Usage: test/Benchmarks/loadtest/churn.sh [cycles=100000] [warm-up cycles=5000] [idle wait s=30] [concurrency=64] [passes=1]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
bench=loadtest-churn
cycles="${1:-100000}"
warm="${2:-5000}"
idle="${3:-30}"
concurrency="${4:-64}"
passes="${5:-1}"
# shellcheck source=common.sh
source "$here/common.sh"

start_backend h1
start_gateway churn h1 "$backend_port"
url="ws://127.0.0.1:$gateway_port/echo/"
active() { curl -s "http://127.0.0.1:$gateway_mgmt/metrics" | awk '/^gateway_sessions_active[{ ]/{s+=$NF} END{print s+0}'; }
storm() { # attempts json
  loadtest 900 storm --url "$url" --attempts "$1" --concurrency "$concurrency" --linger-ms 0 \
    --source-ips 127.0.0.2-127.0.0.17 --workers 2 --json "$2" > "$2.log" 2>&1 || echo "load tool exit $?" >&2
}

metric_mib() { curl -s "http://127.0.0.1:$gateway_mgmt/metrics" | awk -v m="$1" '$1 ~ "^"m"[{ ]" || $1 == m {s+=$NF} END{printf "%.1f", s/1048576}'; }
point() { # label
  local rss; rss="$(rss_kb "$gateway_pid")"
  [ -z "${base:-}" ] && base="$rss"
  printf '| %s | %s | %.2f | %s | %s | %s |\n' "$1" "$rss" "$(echo "$rss / $base" | bc -l)" \
    "$(metric_mib dotnet_gc_last_collection_heap_size_bytes)" "$(metric_mib dotnet_gc_last_collection_memory_committed_size_bytes)" "$(active)"
  last_rss="$rss"
}

echo "churn: $passes x $cycles cycles (warm-up $warm), $concurrency in flight, linger 0, idle wait ${idle} s; $(nproc) cores; dotnet $(dotnet --list-runtimes | awk '/NETCore.App/{v=$2} END{print v}')"
echo "| point | gateway RSS (KB) | vs baseline | managed heap after last GC (MiB) | GC committed (MiB) | gateway_sessions_active |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
echo "| fresh start | $(rss_kb "$gateway_pid") | — | — | — | — |"
storm "$warm" "$work/warm.json"
sleep 5
point "baseline (after $warm warm-up cycles + 5 s)"
summary=""
for pass in $(seq 1 "$passes"); do
  t0=$(date +%s)
  storm "$cycles" "$work/churn-$pass.json"
  t1=$(date +%s)
  point "pass $pass: right after $cycles cycles ($((t1 - t0)) s)"
  sleep "$idle"
  point "pass $pass: after $idle s idle"
  summary="$summary pass $pass: accepted $(jq_or_py "$work/churn-$pass.json" "d['storm']['accepted']") of $cycles, failures $(jq_or_py "$work/churn-$pass.json" "d['failureCount']") $(jq_or_py "$work/churn-$pass.json" "d['failures']");"
done
idle_active="$(active)"
ok="$(echo "$last_rss <= $base * 1.10" | bc -l)"
verdict=FAIL; [ "$ok" = 1 ] && [ "$idle_active" = 0 ] && verdict=PASS
echo
echo "$summary verdict: $verdict (RSS after the last idle wait within 10% of baseline, and 0 active sessions)"
