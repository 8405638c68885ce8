#!/usr/bin/env bash
# Sessions established per second (issue 7), side by side in one run: the load tool's `storm` (back-to-back
# upgrades, each accepted session closed with 1000 right away: --linger-ms 0) straight to the Kestrel echo backend,
# through the gateway (HTTP/1.1 backend leg, admission limits far above the load: the lean path), through the same
# gateway with the lean path off ("yarp") and through nginx. Accepted/s is
# storm.accepted / elapsedSeconds; proxy CPU per accepted session from /proc/<pid>/stat.
# Usage: test/Benchmarks/loadtest/upgrade-rate.sh [attempts=20000] [concurrency=100] [rounds=1]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
bench=loadtest-upgrade
attempts="${1:-20000}"
concurrency="${2:-100}"
rounds="${3:-1}"
# shellcheck source=common.sh
source "$here/common.sh"

start_backend h1
# The same gateway with the lean path off (every session relayed by YARP inside its request): before/after in one run.
GATEWAY_EXTRA_ENV="${GATEWAY_EXTRA_ENV:-} Gateway__Sessions__LeanPath=false" start_gateway yarp h1 "$backend_port"
yarp_pid="$gateway_pid"; yarp_port="$gateway_port"
start_gateway upgrade h1 "$backend_port"
start_nginx upgrade "$backend_port"
declare -A url=([direct]="ws://127.0.0.1:$backend_port/echo/" [gateway]="ws://127.0.0.1:$gateway_port/echo/" [yarp]="ws://127.0.0.1:$yarp_port/echo/" [nginx]="ws://127.0.0.1:$nginx_port/echo/")
declare -A pid=([direct]="$backend_pid" [gateway]="$gateway_pid" [yarp]="$yarp_pid" [nginx]="$nginx_pid")
# Warm-up to the steady state: the gateway's JIT tiering goes on for about 40,000 upgrades (8 s of compilation in
# all, ~0.3 ms per upgrade while it lasts: dotnet_jit_compilation_time_seconds_total, docs/benchmarks.md), which a
# pod that has run for a while has long behind it. Every target gets the same warm-up.
warmup="${UPGRADE_WARMUP:-40000}"
for t in direct gateway yarp nginx; do
  loadtest 300 storm --url "${url[$t]}" --attempts "$warmup" --concurrency 100 --linger-ms 0 --source-ips 127.0.0.2-127.0.0.9 > "$work/warm-$t.log" 2>&1 || true
done

echo "storm, $attempts attempts, $concurrency in flight, linger 0, sources 127.0.0.2-127.0.0.9; $(nproc) cores; dotnet $(dotnet --list-runtimes | awk '/NETCore.App/{v=$2} END{print v}'); $(nginx -v 2>&1)"
echo "| round | target | accepted | elapsed s | accepted/s | connect p50 ms | connect p99 ms | proxy CPU ms per accept | backend CPU ms per accept | failures |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
declare -A rate
for round in $(seq 1 "$rounds"); do
  for t in direct gateway yarp nginx; do
    json="$work/storm-$t-$round.json"
    sleep 3
    c0=0; [ "$t" != direct ] && c0="$(cpu_ticks "${pid[$t]}")"
    b0="$(cpu_ticks "$backend_pid")"
    loadtest 300 storm --url "${url[$t]}" --attempts "$attempts" --concurrency "$concurrency" --linger-ms 0 \
      --source-ips 127.0.0.2-127.0.0.9 --json "$json" > "$work/storm-$t-$round.log" 2>&1 || echo "load tool exit $? ($t)" >&2
    c1=0; [ "$t" != direct ] && c1="$(cpu_ticks "${pid[$t]}")"
    b1="$(cpu_ticks "$backend_pid")"
    accepted="$(jq_or_py "$json" "d['storm']['accepted']")"
    elapsed="$(jq_or_py "$json" "round(d['elapsedSeconds'], 2)")"
    rate[$t-$round]="$(echo "$accepted / $elapsed" | bc -l)"
    cp50="$(jq_or_py "$json" "d['connectTimeMs']['p50']")"
    cp99="$(jq_or_py "$json" "d['connectTimeMs']['p99']")"
    fails="$(jq_or_py "$json" "d['failureCount']")"
    pcpu="—"; [ "$t" != direct ] && pcpu="$(printf %.3f "$(echo "($c1 - $c0) * 10 / $accepted" | bc -l)")"
    bcpu="$(printf %.3f "$(echo "($b1 - $b0) * 10 / $accepted" | bc -l)")"
    echo "| $round | $t | $accepted | $elapsed | $(printf %.0f "${rate[$t-$round]}") | $cp50 | $cp99 | $pcpu | $bcpu | $fails |"
  done
done
echo
echo "| round | accepted/s gateway/direct | accepted/s gateway/nginx | accepted/s yarp/nginx | nginx/direct |"
echo "| --- | ---: | ---: | ---: | ---: |"
for round in $(seq 1 "$rounds"); do
  printf '| %s | %.2f | %.2f | %.2f | %.2f |\n' "$round" "$(echo "${rate[gateway-$round]} / ${rate[direct-$round]}" | bc -l)" \
    "$(echo "${rate[gateway-$round]} / ${rate[nginx-$round]}" | bc -l)" "$(echo "${rate[yarp-$round]} / ${rate[nginx-$round]}" | bc -l)" \
    "$(echo "${rate[nginx-$round]} / ${rate[direct-$round]}" | bc -l)"
done
