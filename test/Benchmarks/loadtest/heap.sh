#!/usr/bin/env bash
# Where an idle session's bytes go (issue 7): the gateway's live managed heap, by owner (Kestrel, ASP.NET Core's
# HTTP layer, HttpClient, sockets, YARP, the gateway's own features) and by type, read with ClrMD
# (test/Benchmarks/HeapBreakdown) at N1 and at N2 idle sessions; the difference divided by N2 - N1 is what one more
# session costs, free of fixed costs. Both backend legs (HTTP/1.1 and HTTP/2). Also the RSS per session between
# the same two points, so the managed share of it is known.
# Usage: test/Benchmarks/loadtest/heap.sh [N1 N2]   (default 1000 4000); GATEWAY_EXTRA_ENV as in common.sh.
# Traffic stays on 127.0.0.0/8; the gateway is paused (ptrace) for each heap walk, a second or two.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
bench=loadtest-heap
n1="${1:-1000}"; n2="${2:-4000}"
# shellcheck source=common.sh
source "$here/common.sh"
if [ ! -f "$build/heap/HeapBreakdown.dll" ]; then
  dotnet build "$repo/test/Benchmarks/HeapBreakdown" -c Release -o "$build/heap" --nologo -v quiet >/dev/null
fi

start_backend h1; h1_port="$backend_port"
start_backend h2; h2_port="$backend_port"
established() { ss -Htn state established "( sport = :$1 )" 2>/dev/null | wc -l; }
wait_established() { # port count
  for _ in $(seq 1 600); do [ "$(established "$1")" -ge "$2" ] && return 0; sleep 0.2; done
  echo "only $(established "$1") of $2 sessions established" >&2; return 1
}

for leg in h1 h2; do
  port_var="${leg}_port"
  start_gateway "heap-$leg" "$leg" "${!port_var}"
  url="ws://127.0.0.1:$gateway_port/echo/"
  loadtest 60 hold --url "$url" --sessions 200 --ramp 1000 --hold 1 --source-ips 127.0.0.2-127.0.0.9 > "$work/warm-$leg.log" 2>&1 || true
  sleep 3
  timeout 400 dotnet "$build/loadtest/Gateway.LoadTest.dll" hold --url "$url" --sessions "$n1" --ramp 1000 --hold 150 \
    --source-ips 127.0.0.2-127.0.0.5 > "$work/hold1-$leg.log" 2>&1 & c1=$!; pids+=("$c1")
  wait_established "$gateway_port" "$n1"; sleep 5
  rss1="$(rss_kb "$gateway_pid")"
  dotnet "$build/heap/HeapBreakdown.dll" "$gateway_pid" "$work/heap-$leg-$n1.json" >&2
  timeout 400 dotnet "$build/loadtest/Gateway.LoadTest.dll" hold --url "$url" --sessions $(( n2 - n1 )) --ramp 1000 --hold 90 \
    --source-ips 127.0.0.6-127.0.0.9 > "$work/hold2-$leg.log" 2>&1 & c2=$!; pids+=("$c2")
  wait_established "$gateway_port" "$n2"; sleep 5
  rss2="$(rss_kb "$gateway_pid")"
  dotnet "$build/heap/HeapBreakdown.dll" "$gateway_pid" "$work/heap-$leg-$n2.json" >&2
  stop "$c1" "$c2" "$gateway_pid"; sleep 2
  python3 - "$work/heap-$leg-$n1.json" "$work/heap-$leg-$n2.json" "$leg" "$n1" "$n2" "$rss1" "$rss2" <<'PY'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
leg, n1, n2, rss1, rss2 = sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
n = n2 - n1
total = (b["liveBytes"] - a["liveBytes"]) / n
print(f"\n#### Backend leg {'HTTP/1.1' if leg == 'h1' else 'HTTP/2'}: {n1} → {n2} idle sessions\n")
print(f"RSS per session {(rss2 - rss1) / n:.2f} KB; live managed heap per session {total / 1024:.2f} KB "
      f"({b['liveBytes'] - a['liveBytes']} bytes over {n} sessions; live objects {a['liveObjects']} → {b['liveObjects']}).\n")
print("| owner | bytes/session | share |\n| --- | ---: | ---: |")
owners = sorted(set(a["owners"]) | set(b["owners"]), key=lambda o: -(b["owners"].get(o, 0) - a["owners"].get(o, 0)))
for o in owners:
    d = (b["owners"].get(o, 0) - a["owners"].get(o, 0)) / n
    if abs(d) >= 8:
        print(f"| {o} | {d:.0f} | {100 * d / total:.1f} % |")
ta = {t["type"]: t for t in a["types"]}
rows = []
for t in b["types"]:
    base = ta.get(t["type"], {"count": 0, "bytes": 0})
    rows.append((t["type"], (t["count"] - base["count"]) / n, (t["bytes"] - base["bytes"]) / n))
rows.sort(key=lambda r: -r[2])
print("\n| type (top 25 by bytes per session) | objects/session | bytes/session |\n| --- | ---: | ---: |")
for name, c, by in rows[:25]:
    short = name if len(name) < 110 else name[:107] + "..."
    print(f"| `{short}` | {c:.2f} | {by:.0f} |")
PY
done
