#!/usr/bin/env bash
# Fast-failure benchmark (issue 4): how quickly the gateway answers an upgrade when every destination of the
# cluster has an open breaker (503 + Retry-After, nothing queued, nothing sent to a backend), measured in one
# run beside the cheapest answer Kestrel gives (404, no route) and a successful upgrade through the gateway.
#   one at a time (latency of a single fast failure) and 100 in flight (a reconnect storm against a dead cluster).
# Usage: test/Benchmarks/resilience/run.sh [attempts=5000] [rounds=2]
# Needs the .NET SDK, node and npm (installs `ws` into a scratch directory). Traffic stays on 127.0.0.0/8.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
attempts="${1:-5000}"
rounds="${2:-2}"
sources="127.0.0.2-127.0.0.9"
bench=resilience
# shellcheck source=../bench-common.sh
source "$here/../bench-common.sh"
unused_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

node "$work/echo-server.mjs" > "$work/backend.log" 2>&1 & pids+=($!)
wait_for "$work/backend.log" '^listening [0-9]+'
backend_port="$(awk '/^listening/{print $2}' "$work/backend.log")"

# Admission limits far above the load: only the breakers refuse.
env ASPNETCORE_ENVIRONMENT=Production DOTNET_gcServer=0 \
  Gateway__Server__Public__Address=127.0.0.1 Gateway__Server__Public__Port=0 \
  Gateway__Server__Management__Address=127.0.0.1 Gateway__Server__Management__Port=0 \
  Gateway__Admission__Rate__PermitsPerSecond=1000000 Gateway__Admission__Rate__Burst=1000000 \
  Gateway__Admission__Rate__MinimumPermitsPerSecond=1000000 Gateway__Admission__PerClient__PermitsPerSecond=0 \
  Gateway__Admission__Watermarks__Low=1000000 Gateway__Admission__Watermarks__High=1000000 Gateway__Admission__Watermarks__Critical=1000000 \
  Gateway__Resilience__Clusters__down__MinimumThroughput=2 Gateway__Resilience__Clusters__down__BreakDuration=01:00:00 \
  'Logging__LogLevel__Gateway.Resilience=Error' 'Logging__LogLevel__Gateway.Proxy=Error' \
  ReverseProxy__Routes__up__ClusterId=up ReverseProxy__Routes__up__Match__Path='/x/{**rest}' \
  ReverseProxy__Clusters__up__Destinations__d1__Address="http://127.0.0.1:$backend_port" \
  ReverseProxy__Routes__down__ClusterId=down ReverseProxy__Routes__down__Match__Path='/down/{**rest}' \
  ReverseProxy__Clusters__down__Destinations__d1__Address="http://127.0.0.1:$(unused_port)" \
  ReverseProxy__Clusters__down__Destinations__d2__Address="http://127.0.0.1:$(unused_port)" \
  dotnet "$work/gateway/Gateway.dll" > "$work/gateway.log" 2>&1 &
gateway_pid=$!
pids+=("$gateway_pid")
wait_for "$work/gateway.log" 'Gateway listening: public http://127\.0\.0\.1:[0-9]+'
port="$(grep -oE 'public http://127\.0\.0\.1:[0-9]+' "$work/gateway.log" | head -1 | grep -oE '[0-9]+$')"

storm() { # label path concurrency
  local hz before after cpu json; hz="$(getconf CLK_TCK)"
  before="$(cpu_ticks "$gateway_pid")"
  json="$(node "$work/storm.mjs" --url "ws://127.0.0.1:$port$2" --count "$attempts" --concurrency "$3" --source-ips "$sources")"
  after="$(cpu_ticks "$gateway_pid")"
  cpu="$(echo "scale=2; ($after - $before) / $hz" | bc)"
  echo "$1 $3 $cpu $json" >> "$work/runs.txt"
  echo "$1 x$3: gateway cpu ${cpu}s $json" >&2
}

# Open both breakers of the dead cluster (each attempt: refused, retried on the other destination, refused),
# then warm up every path (JIT, pools). Not reported.
node "$work/storm.mjs" --url "ws://127.0.0.1:$port/down/warm" --count 4 --concurrency 1 >/dev/null
node "$work/storm.mjs" --url "ws://127.0.0.1:$port/down/warm" --count 2000 --concurrency 100 >/dev/null
node "$work/storm.mjs" --url "ws://127.0.0.1:$port/none" --count 2000 --concurrency 100 >/dev/null
node "$work/storm.mjs" --url "ws://127.0.0.1:$port/x/warm" --count 2000 --concurrency 100 >/dev/null
for round in $(seq 1 "$rounds"); do
  for concurrency in 1 100; do
    storm "fast-fail-503#$round" /down/a "$concurrency"
    storm "no-route-404#$round" /none "$concurrency"
    storm "upgrade-101#$round" /x/a "$concurrency"
  done
done

echo
echo "$attempts attempts per run, sources $sources; $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo); $(dotnet --version)"
echo
echo "| run | in flight | answered/s | answer p50 / p99 / max ms | gateway CPU s | answers per gateway CPU-second | Retry-After s (min–max) | failures |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
while read -r label concurrency cpu json; do
  node -e '
    const [label, concurrency, cpu, json] = process.argv.slice(1); const r = JSON.parse(json);
    const rejected = Object.values(r.rejected).reduce((a, b) => a + b, 0);
    const upgrade = label.startsWith("upgrade");
    const done = upgrade ? r.accepted : rejected;
    const ms = upgrade ? r.acceptMs : r.rejectMs;
    const perCpu = Number(cpu) > 0 ? Math.round(done / Number(cpu)) : "—";
    const statuses = upgrade ? "101" : Object.keys(r.rejected).join("/");
    const retry = r.retryAfter ? `${r.retryAfter.min}–${r.retryAfter.max}` : "—";
    const failures = Object.entries(r.failed).map(([k, v]) => `${k} ${v}`).join(", ") || "0";
    console.log(`| ${label} (${statuses}) | ${concurrency} | ${Math.round(done / r.seconds)} | ${ms.p50} / ${ms.p99} / ${ms.max} | ${cpu} | ${perCpu} | ${retry} | ${failures} |`);
  ' "$label" "$concurrency" "$cpu" "$json"
done < "$work/runs.txt"
