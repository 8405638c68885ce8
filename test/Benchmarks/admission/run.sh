#!/usr/bin/env bash
# Admission benchmark (issue 3): in one run, on this machine,
#   1. upgrades accepted per second directly by a WebSocket echo backend, and through the gateway to it
#      (admission on, limits far above the load, so every check runs and none refuses);
#   2. upgrades the gateway refuses per second in a storm (global bucket at 1/s), and per second of gateway CPU,
#      beside the same storm against a path no route matches (Kestrel's own cost of a refused upgrade: 404), and
#      against the same gateway with tracing on (OTLP/HTTP to a local sink), with the SDK's default sampling (every
#      refusal is a span: rejecting-traced) and with parentbased_traceidratio 0.05 (rejecting-sampled): what
#      tracing costs a refusal.
# Usage: test/Benchmarks/admission/run.sh [attempts=20000] [concurrency=100] [rounds=2]
# Needs the .NET SDK, node and npm (installs `ws` into a scratch directory). Traffic stays on 127.0.0.0/8.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
attempts="${1:-20000}"
concurrency="${2:-100}"
rounds="${3:-2}"
sources="127.0.0.2-127.0.0.9"
bench=admission
# shellcheck source=../bench-common.sh
source "$here/../bench-common.sh"

node "$work/echo-server.mjs" > "$work/backend.log" 2>&1 & pids+=($!)
wait_for "$work/backend.log" '^listening [0-9]+'
backend_port="$(awk '/^listening/{print $2}' "$work/backend.log")"

start_gateway() { # name, then extra Key=Value settings
  local name="$1"; shift
  env ASPNETCORE_ENVIRONMENT=Production DOTNET_gcServer=0 \
    Gateway__Server__Public__Address=127.0.0.1 Gateway__Server__Public__Port=0 \
    Gateway__Server__Management__Address=127.0.0.1 Gateway__Server__Management__Port=0 \
    ReverseProxy__Routes__bench__ClusterId=bench ReverseProxy__Routes__bench__Match__Path='/x/{**rest}' \
    ReverseProxy__Clusters__bench__Destinations__d1__Address="http://127.0.0.1:$backend_port" \
    "$@" dotnet "$work/gateway/Gateway.dll" > "$work/$name.log" 2>&1 &
  local pid=$!
  wait_for "$work/$name.log" 'Gateway listening: public http://127\.0\.0\.1:[0-9]+'
  local port; port="$(grep -oE 'public http://127\.0\.0\.1:[0-9]+' "$work/$name.log" | head -1 | grep -oE '[0-9]+$')"
  echo "$pid $port"
}

node "$work/otlp-sink.mjs" > "$work/sink.log" 2>&1 & sink_pid=$!; pids+=("$sink_pid")
wait_for "$work/sink.log" '^listening [0-9]+'
sink_port="$(awk '/^listening/{print $2}' "$work/sink.log")"

read -r open_pid open_port < <(start_gateway open \
  Gateway__Admission__Rate__PermitsPerSecond=1000000 Gateway__Admission__Rate__Burst=1000000 \
  Gateway__Admission__Rate__MinimumPermitsPerSecond=1000000 Gateway__Admission__PerClient__PermitsPerSecond=0 \
  Gateway__Admission__Watermarks__Low=1000000 Gateway__Admission__Watermarks__High=1000000 Gateway__Admission__Watermarks__Critical=1000000)
pids+=("$open_pid") # start_gateway runs in a subshell: its own pids+= never reaches the trap
read -r shut_pid shut_port < <(start_gateway shut \
  Gateway__Admission__Rate__PermitsPerSecond=1 Gateway__Admission__Rate__Burst=1 Gateway__Admission__Rate__MinimumPermitsPerSecond=1 \
  Gateway__Admission__PerClient__PermitsPerSecond=0 'Logging__LogLevel__Gateway.Admission=Error')
pids+=("$shut_pid")
read -r traced_pid traced_port < <(start_gateway traced \
  Gateway__Admission__Rate__PermitsPerSecond=1 Gateway__Admission__Rate__Burst=1 Gateway__Admission__Rate__MinimumPermitsPerSecond=1 \
  Gateway__Admission__PerClient__PermitsPerSecond=0 'Logging__LogLevel__Gateway.Admission=Error' \
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf)
pids+=("$traced_pid")
read -r sampled_pid sampled_port < <(start_gateway sampled \
  Gateway__Admission__Rate__PermitsPerSecond=1 Gateway__Admission__Rate__Burst=1 Gateway__Admission__Rate__MinimumPermitsPerSecond=1 \
  Gateway__Admission__PerClient__PermitsPerSecond=0 'Logging__LogLevel__Gateway.Admission=Error' \
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
  OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.05)
pids+=("$sampled_pid")

storm() { # label url gateway-pid-or-0
  local before=0 after=0 hz; hz="$(getconf CLK_TCK)"
  [ "$3" != 0 ] && before="$(cpu_ticks "$3")"
  local json; json="$(node "$work/storm.mjs" --url "$2" --count "$attempts" --concurrency "$concurrency" --source-ips "$sources")"
  [ "$3" != 0 ] && after="$(cpu_ticks "$3")"
  local cpu; cpu="$(echo "scale=2; ($after - $before) / $hz" | bc)"
  echo "$1 $cpu $json" >> "$work/runs.txt"
  echo "$1: gateway cpu ${cpu}s $json" >&2
}

# Warm-up (JIT, connection pools), not reported.
node "$work/storm.mjs" --url "ws://127.0.0.1:$open_port/x/warm" --count 2000 --concurrency "$concurrency" >/dev/null
node "$work/storm.mjs" --url "ws://127.0.0.1:$shut_port/x/warm" --count 2000 --concurrency "$concurrency" >/dev/null
node "$work/storm.mjs" --url "ws://127.0.0.1:$traced_port/x/warm" --count 2000 --concurrency "$concurrency" >/dev/null
node "$work/storm.mjs" --url "ws://127.0.0.1:$sampled_port/x/warm" --count 2000 --concurrency "$concurrency" >/dev/null
for round in $(seq 1 "$rounds"); do
  storm "direct#$round" "ws://127.0.0.1:$backend_port/x/a" 0
  storm "gateway#$round" "ws://127.0.0.1:$open_port/x/a" "$open_pid"
  storm "rejecting#$round" "ws://127.0.0.1:$shut_port/x/a" "$shut_pid"
  storm "no-route-404#$round" "ws://127.0.0.1:$shut_port/none" "$shut_pid"
  storm "rejecting-traced#$round" "ws://127.0.0.1:$traced_port/x/a" "$traced_pid"
  storm "rejecting-sampled#$round" "ws://127.0.0.1:$sampled_port/x/a" "$sampled_pid"
done
kill "$sink_pid"; sleep 0.5

echo
echo "$attempts attempts per run, $concurrency in flight, sources $sources; $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo); $(dotnet --version)"
echo "OTLP sink: $(tail -1 "$work/sink.log")"
echo
echo "| run | accepted/s | rejected/s | accept p50 / p99 ms | reject p50 / p99 ms | gateway CPU s | per gateway CPU-second | failures |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
while read -r label cpu json; do
  node -e '
    const [label, cpu, json] = process.argv.slice(1); const r = JSON.parse(json);
    const rejected = Object.values(r.rejected).reduce((a, b) => a + b, 0);
    const refusing = label.startsWith("rejecting") || label.startsWith("no-route");
    const done = refusing ? rejected : r.accepted;
    const perCpu = Number(cpu) > 0 ? Math.round(done / Number(cpu)) + (refusing ? " refusals" : " accepts") : "—";
    const failures = Object.entries(r.failed).map(([k, v]) => `${k} ${v}`).join(", ") || "0";
    console.log(`| ${label} | ${r.acceptedPerSecond} | ${r.rejectedPerSecond} (${Object.entries(r.rejected).map(([k, v]) => `${k}: ${v}`).join(", ") || "—"}) | ${r.acceptMs.p50 ?? "—"} / ${r.acceptMs.p99 ?? "—"} | ${r.rejectMs.p50 ?? "—"} / ${r.rejectMs.p99 ?? "—"} | ${label.startsWith("direct") ? "—" : cpu} | ${perCpu} | ${failures} |`);
  ' "$label" "$cpu" "$json"
done < "$work/runs.txt"
