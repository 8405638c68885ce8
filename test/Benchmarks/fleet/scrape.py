"""Scrapes every gateway's /metrics and every HAProxy's stats once a second, for test/Benchmarks/fleet/run.sh.

Usage: scrape.py OUT STOP_FILE MAX_SECONDS g1=MGMT_PORT,g2=... STATS_PORT,STATS_PORT...
Appends one JSON line per gateway and second to OUT: time, gateway, the counters summary.py reads (summed over
their labels) and the sessions HAProxy holds to that gateway (summed over the HAProxy processes). A gateway that
does not answer (stopped, restarting) is left out of that second. Ends when STOP_FILE exists or after MAX_SECONDS.
"""
import json
import os
import sys
import time
import urllib.request

COUNTERS = ("gateway_sessions_opened_total", "gateway_admission_admitted_total", "gateway_sessions_active")
BY_REASON = ("gateway_sessions_closed_total", "gateway_admission_rejected_total")


def get(url):
    with urllib.request.urlopen(url, timeout=0.8) as response:
        return response.read().decode()


def parse(text):
    sample = {name: 0.0 for name in COUNTERS}
    for name in BY_REASON:
        sample[name] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        series, _, value = line.rpartition(" ")
        name, _, labels = series.partition("{")
        if name in COUNTERS:
            sample[name] += float(value)
        elif name in BY_REASON:
            reason = next((part.split("=", 1)[1].strip('"') for part in labels.rstrip("}").split(",") if part.startswith("reason=")), "")
            sample[name][reason] = sample[name].get(reason, 0.0) + float(value)
    return sample


def haproxy_sessions(stats_ports):
    """Current sessions per server (gateway), over every HAProxy process; None where a process did not answer."""
    sessions = {}
    for port in stats_ports:
        try:
            csv = get(f"http://127.0.0.1:{port}/stats;csv")
        except OSError:
            continue
        for row in csv.splitlines():
            fields = row.split(",")
            if len(fields) > 17 and fields[0] == "gateways" and fields[1] not in ("FRONTEND", "BACKEND"):
                sessions[fields[1]] = sessions.get(fields[1], 0) + int(fields[4] or 0)
    return sessions


def main():
    out, stop, max_seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    gateways = dict(pair.split("=") for pair in sys.argv[4].split(","))
    stats_ports = sys.argv[5].split(",")
    started = time.time()
    tick = started
    with open(out, "a", buffering=1) as file:
        while not os.path.exists(stop) and time.time() - started < max_seconds:
            balancer = haproxy_sessions(stats_ports)
            for name, port in gateways.items():
                try:
                    sample = parse(get(f"http://127.0.0.1:{port}/metrics"))
                except OSError:
                    continue
                sample.update(t=time.time(), g=name, haproxy=balancer.get(name))
                file.write(json.dumps(sample) + "\n")
            tick += 1
            time.sleep(max(0.0, tick - time.time()))


if __name__ == "__main__":
    main()
