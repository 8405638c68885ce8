#!/usr/bin/env bash
# Issue 16, item 2: a fleet on one machine. HAProxy (haproxy.cfg, TCP, leastconn, /readyz checks, an NLB's idle
# timeout) in front of three Release gateways, two node echo backends behind them, and the load generator holding
# SESSIONS reconnecting echo sessions with traffic. Then, as Kubernetes does them:
#   1. a rolling restart of the gateways: SIGTERM one, wait for it to exit, start it again, wait until the balancer
#      sees it ready, next;
#   2. a backend deploy: backend 2 removed from the gateways' configuration file (a reload, as an endpoints change
#      would be), the destination drain let run, then backend 2 stopped.
# Writes summary.md in the work directory (and prints it): sessions ended without a close code, messages lost,
# reconnects by cause, the peak upgrade rate at any gateway against its admission rate, the time until all
# sessions are open again after the last restart, and the backend deploy's closes.
#
# Usage: test/Benchmarks/fleet/run.sh [SESSIONS] (default 15000)
# Environment: RATE (messages/s in all, default 2000), RAMP (new sessions/s at the start, default 1000), WORKERS
# (load generator processes, default 4), HAPROXY_PROCS (default 2: HAProxy holds 2 sockets per session and one
# process may open fewer than 20,000 files), DRAIN_DELAY / DRAIN_WINDOW / DEST_WINDOW (seconds; default the
# gateway's own 5 / 30 / 20), CHECK_INTER (HAProxy check interval, default 1s).
# Loopback only; every process started here is stopped by its PID on exit; every wait is bounded.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../../.." && pwd)"
here="$repo/test/Benchmarks/fleet"
bench=fleet
sessions="${1:-15000}"
rate="${RATE:-2000}"
ramp="${RAMP:-1000}"
workers="${WORKERS:-4}"
haproxy_procs="${HAPROXY_PROCS:-2}"
drain_delay="${DRAIN_DELAY:-5}"
drain_window="${DRAIN_WINDOW:-30}"
dest_window="${DEST_WINDOW:-20}"
check_inter="${CHECK_INTER:-1s}"
# The gateway's production admission defaults, stated here so the summary can set the peak against them.
admission_rate=1000
admission_burst=2000

PATH="$PATH:/usr/sbin" # Debian's haproxy, off a normal user's PATH
command -v haproxy >/dev/null || { echo "haproxy is not installed (apt-get install haproxy)" >&2; exit 1; }
source "$repo/test/Benchmarks/bench-common.sh"
dotnet publish "$repo/src/Gateway.LoadTest" -c Release -o "$work/loadtest" --nologo -v quiet >/dev/null
events="$work/events.log"
event() { echo "$(date +%s.%N) $*" >> "$events"; echo "[$(date +%T)] $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# A child that has exited is a zombie until waited for, and kill -0 still finds it: read its state instead.
alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
hms() { printf '%02d:%02d:%02d' $(($1 / 3600)) $(($1 % 3600 / 60)) $(($1 % 60)); }
wait_until() { # seconds description command...
  local limit="$1" deadline=$((SECONDS + $1)) what="$2"; shift 2
  until "$@"; do
    ((SECONDS < deadline)) || { echo "timed out after $limit s: $what" >&2; return 1; }
    sleep 0.2
  done
}

# --- Backends: two node ws echo servers.
backend_pid=(); backend_port=()
for b in 1 2; do
  node "$work/echo-server.mjs" 0 > "$work/backend$b.log" 2>&1 &
  backend_pid[b]=$!; pids+=("${backend_pid[b]}")
  wait_for "$work/backend$b.log" '^listening [0-9]+'
  backend_port[b]="$(grep -oE '[0-9]+$' "$work/backend$b.log" | head -1)"
done

# --- The gateways' configuration file, reloaded on change (the ConfigMap of a deployment).
config="$work/gateway.json"
write_config() { # destinations as "d1 d2"
  local entries=() d
  for d in "$@"; do entries+=("\"$d\": { \"Address\": \"http://127.0.0.1:${backend_port[${d#d}]}\" }"); done
  local IFS=,
  cat > "$config.tmp" <<JSON
{ "ReverseProxy": {
    "Routes": { "echo": { "ClusterId": "echo", "Match": { "Path": "/echo/{**rest}" } } },
    "Clusters": { "echo": { "Destinations": { ${entries[*]} } } } } }
JSON
  mv "$config.tmp" "$config"
}
write_config d1 d2

# --- Three gateways on fixed ports (the balancer's configuration names them), Production, the Dockerfile's GC
# settings. Per-client admission off: every session reaches the gateway from HAProxy's one address.
gw_public=(); gw_mgmt=(); gw_pid=(); gw_log=(); gw_runs=()
for g in 1 2 3; do gw_public[g]="$(free_port)"; gw_mgmt[g]="$(free_port)"; gw_runs[g]=0; done
start_gateway_n() { # index
  local g="$1"
  gw_runs[g]=$((gw_runs[g] + 1))
  gw_log[g]="$work/g$g-${gw_runs[g]}.log"
  env ASPNETCORE_ENVIRONMENT=Production DOTNET_gcServer=0 DOTNET_gcConcurrent=1 DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0 \
    GATEWAY_CONFIG="$config" DOTNET_USE_POLLING_FILE_WATCHER=true \
    Gateway__Server__Public__Address=127.0.0.1 Gateway__Server__Public__Port="${gw_public[g]}" \
    Gateway__Server__Management__Address=127.0.0.1 Gateway__Server__Management__Port="${gw_mgmt[g]}" \
    Gateway__Admission__Rate__PermitsPerSecond=$admission_rate Gateway__Admission__Rate__Burst=$admission_burst \
    Gateway__Admission__PerClient__PermitsPerSecond=0 Gateway__Admission__PerClient__MaxSessions=0 \
    Gateway__Drain__Delay="$(hms "$drain_delay")" Gateway__Drain__Window="$(hms "$drain_window")" \
    Gateway__Drain__DestinationWindow="$(hms "$dest_window")" \
    dotnet "$work/gateway/Gateway.dll" > "${gw_log[g]}" 2>&1 &
  gw_pid[g]=$!; pids+=("${gw_pid[g]}")
  wait_for "${gw_log[g]}" 'Gateway listening: public'
}
for g in 1 2 3; do start_gateway_n "$g"; done

# --- HAProxy: HAPROXY_PROCS processes on one port (SO_REUSEPORT), each with its own stats port.
lb_port="$(free_port)"; stats_ports=()
servers="$(for g in 1 2 3; do printf '    server g%s 127.0.0.1:%s check port %s\n' "$g" "${gw_public[g]}" "${gw_mgmt[g]}"; done)"
maxconn=$(( (sessions / haproxy_procs) * 13 / 10 + 100 ))
for h in $(seq 1 "$haproxy_procs"); do
  stats_ports[h]="$(free_port)"
  python3 - "$here/haproxy.cfg" "$work/haproxy$h.cfg" "$lb_port" "${stats_ports[h]}" "$maxconn" "$check_inter" "$servers" <<'PY'
import sys
template, out, port, stats, maxconn, inter, servers = sys.argv[1:]
text = open(template).read()
for key, value in {"PORT": port, "STATS_PORT": stats, "MAXCONN": maxconn, "INTER": inter, "SERVERS": servers}.items():
    text = text.replace(f"@{key}@", value)
open(out, "w").write(text)
PY
  haproxy -db -f "$work/haproxy$h.cfg" > "$work/haproxy$h.log" 2>&1 &
  pids+=($!)
done
server_status() { # process server -> UP, DOWN, "UP 1/2"...
  curl -s --max-time 1 "http://127.0.0.1:${stats_ports[$1]}/stats;csv" | awk -F, -v s="$2" '$1 == "gateways" && $2 == s { print $18 }'
}
up_everywhere() { # server
  local h; for h in $(seq 1 "$haproxy_procs"); do [ "$(server_status "$h" "$1")" = UP ] || return 1; done
}
for g in 1 2 3; do wait_until 30 "HAProxy sees g$g up" up_everywhere "g$g"; done
event "fleet up: haproxy :$lb_port x$haproxy_procs, gateways ${gw_public[*]}, backends ${backend_port[*]}"

# --- Scraper and load. The load is sized for every phase below with room to spare (a restart: the drain, then
# ~15 s to exit, start, be seen ready and settle), plus 40 s after the deploy; each phase is bounded as well, and
# the summary says so if the load ended first.
phase_bound=$((drain_delay + drain_window + 40))
duration=$((sessions / ramp + 30 + 3 * (drain_delay + drain_window + 15) + dest_window + 40))
python3 "$here/scrape.py" "$work/scrape.jsonl" "$work/scrape.stop" $((duration + 120)) \
  "g1=${gw_mgmt[1]},g2=${gw_mgmt[2]},g3=${gw_mgmt[3]}" "$(IFS=,; echo "${stats_ports[*]}")" &
scraper=$!; pids+=("$scraper")
event "load start: $sessions sessions, $rate msg/s, ramp $ramp/s, $workers workers, duration $duration s"
timeout $((duration + 180)) dotnet "$work/loadtest/Gateway.LoadTest.dll" echo --url "ws://127.0.0.1:$lb_port/echo/fleet" \
  --sessions "$sessions" --ramp "$ramp" --rate "$rate" --size 32 --duration "$duration" --reconnect \
  --workers "$workers" --source-ips 127.0.0.2-127.0.0.60 --json "$work/loadtest.json" > "$work/loadtest.log" 2>&1 &
load=$!; pids+=("$load")

fleet_active() { # sessions open at the gateways that answer
  local g total=0 n
  for g in 1 2 3; do
    n="$(curl -s --max-time 1 "http://127.0.0.1:${gw_mgmt[g]}/metrics" | awk '/^gateway_sessions_active[{ ]/ { s += $NF } END { printf "%d", s }')" || n=0
    total=$((total + ${n:-0}))
  done
  echo "$total"
}
all_open() { [ "$(fleet_active)" -ge "$sessions" ]; }
wait_until $((sessions / ramp + 120)) "all $sessions sessions open" all_open
event "all open"
sleep 10

# --- 1. Rolling restart.
for g in 1 2 3; do
  event "sigterm g$g (pid ${gw_pid[g]})"
  kill -TERM "${gw_pid[g]}"
  wait_until "$phase_bound" "g$g to exit after SIGTERM" eval '! alive "${gw_pid[g]}"'
  code=0; wait "${gw_pid[g]}" || code=$?
  event "exited g$g (code $code)"
  start_gateway_n "$g"
  event "started g$g (pid ${gw_pid[g]})"
  wait_until 30 "HAProxy sees g$g up again" up_everywhere "g$g"
  event "up g$g"
done
wait_until 120 "all $sessions sessions open again after the rolling restart" all_open || true
event "all open again"
sleep 10

# --- 2. Backend deploy: d2 leaves the configuration; the gateways drain its sessions (1012 across the
# destination window, the backend told first); then the backend stops.
event "deploy: d2 removed from the configuration"
write_config d1
drained() { local g; for g in 1 2 3; do grep -q 'Destination drain of d2 .*completed' "${gw_log[g]}" || return 1; done; }
wait_until $((dest_window + 60)) "every gateway to finish draining d2" drained || true
event "destination drain completed"
kill -TERM "${backend_pid[2]}"
wait_until 10 "backend 2 to exit" eval '! alive "${backend_pid[2]}"' || true
event "backend 2 stopped"

wait_until $((duration + 180)) "the load generator to finish" eval '! alive "$load"' || true
code=0; wait "$load" || code=$?
event "load end (exit $code)"
touch "$work/scrape.stop"; wait "$scraper" 2>/dev/null || true

python3 "$here/summary.py" "$work" "$sessions" "$admission_rate" "$admission_burst" "$drain_delay" "$drain_window" "$dest_window" | tee "$work/summary.md"
echo "work dir $work" >&2
