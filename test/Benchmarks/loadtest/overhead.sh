#!/usr/bin/env bash
# What the gateway adds to an echo round trip (issue 7), side by side in one run: the load tool's open-loop `echo`
# (100 sessions) straight to the Kestrel echo backend, through the gateway (HTTP/1.1 backend leg: the lean path),
# through the same gateway with the lean path off ("yarp": every session relayed by YARP) and through nginx,
# at 64 B and 4 KiB, at a moderate fixed rate and at a high rate (reported as achieved). Round-trip p50/p99 are
# measured from each message's due time (no coordinated omission). Proxy CPU per 10,000 messages comes from
# utime+stime in /proc/<pid>/stat before and after each run (ticks of 10 ms).
# Usage: test/Benchmarks/loadtest/overhead.sh [duration s=12] [sizes="64 4096"] [rates="2000 20000"] [sessions=100]
# OVERHEAD_TARGETS: a subset of "direct gateway yarp nginx" (the ratio table then shows what it can).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
bench=loadtest-overhead
duration="${1:-12}"
read -r -a sizes <<< "${2:-64 4096}"
read -r -a rates <<< "${3:-2000 20000}"
sessions="${4:-100}"
# shellcheck source=common.sh
source "$here/common.sh"

start_backend h1
# The same gateway with the lean path off (every session relayed by YARP inside its request): before/after in one run.
GATEWAY_EXTRA_ENV="${GATEWAY_EXTRA_ENV:-} Gateway__Sessions__LeanPath=false" start_gateway yarp h1 "$backend_port"
yarp_pid="$gateway_pid"; yarp_port="$gateway_port"
start_gateway overhead h1 "$backend_port"
start_nginx overhead "$backend_port"
declare -A url=([direct]="ws://127.0.0.1:$backend_port/echo/" [gateway]="ws://127.0.0.1:$gateway_port/echo/" [yarp]="ws://127.0.0.1:$yarp_port/echo/" [nginx]="ws://127.0.0.1:$nginx_port/echo/")
declare -A pid=([direct]="$backend_pid" [gateway]="$gateway_pid" [yarp]="$yarp_pid" [nginx]="$nginx_pid")
# Warm-up: JIT and pools of all three processes.
for t in ${OVERHEAD_TARGETS:-direct gateway yarp nginx}; do
  loadtest 60 echo --url "${url[$t]}" --sessions "$sessions" --rate 2000 --duration 3 --size 64 > "$work/warm-$t.log" 2>&1 || true
done

echo "echo, $sessions sessions, ${duration} s per run; $(nproc) cores; dotnet $(dotnet --list-runtimes | awk '/NETCore.App/{v=$2} END{print v}'); $(nginx -v 2>&1)"
echo "| size | rate asked | target | achieved msg/s | received | RTT p50 ms | RTT p99 ms | service p99 ms | proxy CPU ms / 10k msgs | backend CPU ms / 10k msgs | failures |"
echo "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
declare -A p50 p99 cpu ach
for size in "${sizes[@]}"; do
  for rate in "${rates[@]}"; do
    for t in ${OVERHEAD_TARGETS:-direct gateway yarp nginx}; do
      json="$work/echo-$t-$size-$rate.json"
      c0=0; [ "$t" != direct ] && c0="$(cpu_ticks "${pid[$t]}")"
      b0="$(cpu_ticks "$backend_pid")"
      loadtest $(( duration + 90 )) echo --url "${url[$t]}" --sessions "$sessions" --rate "$rate" --duration "$duration" --size "$size" \
        --json "$json" > "$work/echo-$t-$size-$rate.log" 2>&1 || echo "load tool exit $? ($t $size $rate)" >&2
      c1=0; [ "$t" != direct ] && c1="$(cpu_ticks "${pid[$t]}")"
      b1="$(cpu_ticks "$backend_pid")"
      received="$(jq_or_py "$json" "d['messages']['received']")"
      k="$t-$size-$rate"
      ach[$k]="$(jq_or_py "$json" "round(d['messages']['achievedRate'])")"
      p50[$k]="$(jq_or_py "$json" "d['roundTripMs']['p50']")"
      p99[$k]="$(jq_or_py "$json" "d['roundTripMs']['p99']")"
      sp99="$(jq_or_py "$json" "d['serviceTimeMs']['p99']")"
      fails="$(jq_or_py "$json" "d['failureCount']")"
      if [ "$t" = direct ]; then cpu[$k]="—"; else cpu[$k]="$(printf %.1f "$(echo "($c1 - $c0) * 10 / $received * 10000" | bc -l)")"; fi
      bcpu="$(printf %.1f "$(echo "($b1 - $b0) * 10 / $received * 10000" | bc -l)")"
      echo "| $size | $rate | $t | ${ach[$k]} | $received | ${p50[$k]} | ${p99[$k]} | $sp99 | ${cpu[$k]} | $bcpu | $fails |"
    done
  done
done
r() { if [ -n "${1:-}" ] && [ -n "${2:-}" ] && [ "$1" != — ] && [ "$2" != — ]; then printf %.2f "$(echo "$1 / $2" | bc -l)"; else printf —; fi; }
echo
echo "| size | rate asked | RTT p50 gateway/direct | RTT p99 gateway/direct | RTT p50 gateway/nginx | RTT p99 gateway/nginx | CPU per msg gateway/nginx | CPU per msg yarp/nginx | achieved gateway/nginx |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for size in "${sizes[@]}"; do
  for rate in "${rates[@]}"; do
    g="gateway-$size-$rate" d="direct-$size-$rate" n="nginx-$size-$rate" y="yarp-$size-$rate"
    echo "| $size | $rate | $(r "${p50[$g]:-}" "${p50[$d]:-}") | $(r "${p99[$g]:-}" "${p99[$d]:-}") | $(r "${p50[$g]:-}" "${p50[$n]:-}") | $(r "${p99[$g]:-}" "${p99[$n]:-}") | $(r "${cpu[$g]:-}" "${cpu[$n]:-}") | $(r "${cpu[$y]:-}" "${cpu[$n]:-}") | $(r "${ach[$g]:-}" "${ach[$n]:-}") |"
  done
done
