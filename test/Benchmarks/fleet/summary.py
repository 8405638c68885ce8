"""The fleet run's summary (markdown on stdout), from what test/Benchmarks/fleet/run.sh left in its work directory.

Usage: summary.py WORK SESSIONS ADMISSION_RATE ADMISSION_BURST DRAIN_DELAY DRAIN_WINDOW DEST_WINDOW
Reads WORK/loadtest.json (the load generator's result), WORK/scrape.jsonl (scrape.py) and WORK/events.log (the
script's phases: "EPOCH_SECONDS text").
"""
import json
import sys
from collections import defaultdict

work, sessions, admission_rate, admission_burst, delay, window, dest_window = sys.argv[1:8]
sessions = int(sessions)

events = []
for line in open(f"{work}/events.log"):
    at, _, text = line.strip().partition(" ")
    events.append((float(at), text))


def when(prefix, last=False):
    matches = [at for at, text in events if text.startswith(prefix)]
    if not matches:
        return None
    return matches[-1] if last else matches[0]


load_start = when("load start")
first_sigterm = when("sigterm g1")
last_sigterm = when("sigterm g3")
last_exit = when("exited g3")
deploy = when("deploy:")
backend_stopped = when("backend 2 stopped")
load_end = when("load end")

result = json.load(open(f"{work}/loadtest.json"))
reconnects = result.get("reconnects") or {}
by_cause = reconnects.get("byCause") or {}
messages = result.get("messages") or {}
closed_by_server = result["sessions"].get("closedByServer") or {}

# Scrapes by gateway, in time order; a counter that goes down is a new process (the restart).
samples = defaultdict(list)
for line in open(f"{work}/scrape.jsonl"):
    sample = json.loads(line)
    samples[sample["g"]].append(sample)


def peak_rate(counter, start, end):
    """The highest increase per second of a counter at any gateway between two times: (rate, gateway, time)."""
    best = (0.0, "-", 0.0)
    for gateway, series in samples.items():
        for before, after in zip(series, series[1:]):
            if after["t"] < start or before["t"] > end or after[counter] < before[counter]:
                continue
            # Per scrape, over at least a second: a scrape answered late makes the next interval short, and
            # dividing by it would double a steady rate.
            rate = (after[counter] - before[counter]) / max(after["t"] - before["t"], 1.0)
            if rate > best[0]:
                best = (rate, gateway, after["t"])
    return best


def counter_delta(counter, reason, start, end):
    """A labelled counter's increase over all gateways between two times (no restart in between)."""
    total = 0.0
    for series in samples.values():
        inside = [s for s in series if start <= s["t"] <= end]
        if len(inside) >= 2:
            total += inside[-1][counter].get(reason, 0.0) - inside[0][counter].get(reason, 0.0)
    return total


def open_series():
    """Client side: (time, sessions open) for each whole second of the load (the tool samples from its start)."""
    return [(load_start + second + 1, value) for second, value in enumerate(result.get("openPerSecond") or [])]


def recovered_after(series, start, end):
    """The first time after the last sample below `sessions` in [start, end), and the lowest count there."""
    inside = [(t, n) for t, n in series if start <= t < end]
    short = [(t, n) for t, n in inside if n < sessions]
    if not inside:
        return None, None
    if not short:
        return start, min(n for _, n in inside)
    last_short = short[-1][0]
    after = [t for t, n in inside if t > last_short and n >= sessions]
    return (after[0] if after else None), min(n for _, n in inside)


def fleet_active_series():
    """Gateway side: the sessions open at all gateways, per scrape round (the same second)."""
    rounds = defaultdict(float)
    for series in samples.values():
        for sample in series:
            rounds[round(sample["t"])] += sample["gateway_sessions_active"]
    return sorted(rounds.items())


def fmt(value, digits=0):
    return "n/a" if value is None else f"{value:,.{digits}f}"


client_open = open_series()
restart_end = deploy or load_end
client_back, client_low = recovered_after(client_open, first_sigterm, restart_end)
gateway_back, gateway_low = recovered_after(fleet_active_series(), last_exit, restart_end)
ramp_peak = peak_rate("gateway_sessions_opened_total", load_start, first_sigterm)
restart_peak = peak_rate("gateway_sessions_opened_total", first_sigterm, restart_end)
deploy_peak = peak_rate("gateway_sessions_opened_total", deploy, backend_stopped + 5)
dropped = closed_by_server.get("none", 0)
reconnect_ms = reconnects.get("timeToReconnectMs") or {}
round_trip = result.get("roundTripMs") or {}
# Leastconn after a rolling restart: the gateway restarted last gets only what the others shed from then on.
spread = {g: [x for x in s if x["t"] < restart_end][-1].get("haproxy") for g, s in sorted(samples.items())}

out = []
out.append(f"## Fleet run: {sessions:,} sessions, 3 gateways behind HAProxy, 2 backends\n")
out.append(f"Drain delay {delay} s, window {window} s; destination window {dest_window} s; admission {admission_rate}/s, burst {admission_burst}, per gateway.\n")
out.append("| | |\n| --- | --- |")
out.append(f"| sessions ended without a close code (`dropped`, goal 0) | {dropped:,} (reconnects after `dropped`: {by_cause.get('dropped', 0):,}) |")
out.append(f"| sessions closed by the server, by code | {', '.join(f'{k}: {v:,}' for k, v in sorted(closed_by_server.items())) or 'none'} |")
out.append(f"| reconnects, by cause | {reconnects.get('count', 0):,}: {', '.join(f'{k} {v:,}' for k, v in sorted(by_cause.items()))} |")
out.append(f"| time to reconnect p50 / p99 / max | {fmt(reconnect_ms.get('p50'))} / {fmt(reconnect_ms.get('p99'))} / {fmt(reconnect_ms.get('max'))} ms |")
out.append(f"| messages sent / echoed | {messages.get('sent', 0):,} / {messages.get('received', 0):,} ({fmt(messages.get('achievedRate'))}/s of {fmt(messages.get('requestedRate'))}/s) |")
out.append(f"| lost inside a connection / lost in a close (RFC 6455) / duplicated | {messages.get('lost', 0):,} / {messages.get('lostInClose', 0):,} / {messages.get('duplicated', 0):,} |")
out.append(f"| round trip p50 / p99 / max | {fmt(round_trip.get('p50'), 1)} / {fmt(round_trip.get('p99'), 1)} / {fmt(round_trip.get('max'), 1)} ms |")
out.append(f"| upgrade failures, by cause | {', '.join(f'{k} {v:,}' for k, v in result.get('failures', {}).items()) or 'none'} |")
out.append(f"| peak new sessions/s at one gateway: ramp | {ramp_peak[0]:,.0f} ({ramp_peak[1]}) against its admission rate {admission_rate}/s |")
out.append(f"| peak new sessions/s at one gateway: rolling restart | {restart_peak[0]:,.0f} ({restart_peak[1]}, {fmt(restart_peak[2] - first_sigterm if restart_peak[1] != '-' else None)} s after the first SIGTERM) against {admission_rate}/s |")
out.append(f"| peak new sessions/s at one gateway: backend deploy | {deploy_peak[0]:,.0f} ({deploy_peak[1]}) |")
out.append(f"| sessions open at the low point of the rolling restart (client side / gateways after the last exit) | {fmt(client_low)} / {fmt(gateway_low)} |")
out.append(f"| all {sessions:,} open again, after the last SIGTERM (client side, ±1 s) | {fmt(client_back - last_sigterm if client_back else None, 1)} s (the last gateway exited {fmt(last_exit - last_sigterm, 1)} s after its SIGTERM) |")
out.append(f"| all {sessions:,} open again at the gateways, after the last exit | {fmt(gateway_back - last_exit if gateway_back else None, 1)} s |")
out.append(f"| backend deploy: sessions closed by the gateways' destination drain (1012) | {counter_delta('gateway_sessions_closed_total', 'destination_drain', deploy, backend_stopped + 5):,.0f} |")
out.append(f"| backend deploy: sessions the backend's exit ended (`backend_lost`) | {counter_delta('gateway_sessions_closed_total', 'backend_lost', deploy, backend_stopped + 5):,.0f} |")
out.append(f"| sessions at each gateway after the rolling restart (HAProxy's count) | {', '.join(f'{g} {n}' for g, n in spread.items())} |")
out.append(f"| load generator | {result['sessions'].get('opened', 0):,} upgrades, {result.get('elapsedSeconds', 0):,.0f} s |")
out.append("")
out.append("Phases (seconds from the load's start):")
out.append("")
for at, text in events:
    out.append(f"- {at - (load_start or at):7.1f}  {text}")
print("\n".join(out))
