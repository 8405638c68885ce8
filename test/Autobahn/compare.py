"""Compares two Autobahn|Testsuite fuzzing-client reports case by case and writes docs/conformance/autobahn.md.

Called by run.sh (Python 3.8+, standard library only):
    compare.py --direct REPORT_DIR --gateway REPORT_DIR --out autobahn.md [--meta key=value ...]
Each REPORT_DIR is a fuzzing client's outdir: index.json ({agent: {case: {behavior, behaviorClose, ...}}}) and
one <agent>_case_<id>.json per case. Exit status: 0 when every case has the same behavior and behaviorClose in
both, 1 otherwise (a case present in one report only is a difference too).
"""
import argparse
import collections
import json
import os
import re
import sys

RESULTS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]

HEADER = """\
# Autobahn|Testsuite conformance

The gateway, with a conformant echo backend behind it, must do everything the backend does alone, case for case.
`test/Autobahn/run.sh` runs the [Autobahn|Testsuite](https://github.com/crossbario/autobahn-testsuite) fuzzing
client (every case but the 9.* performance group; 12.* and 13.*, permessage-deflate, included) twice: against a
Node `ws` echo backend (permessage-deflate on) directly, and through a Release build of the gateway routed to that
same backend. It compares each case's `behavior` and `behaviorClose` and rewrites this file: the counts by result
for each target and every case where the two differ. The two runs' `index.json` are kept next to it
(`autobahn-direct.json`, `autobahn-gateway.json`); the HTML reports and logs stay in `test/Autobahn/reports/`
(not in git). The script exits 1 when any case differs, 0 when none does.

**How to run it.** `test/Autobahn/run.sh get-sources` (once; clones the tagged sources listed at the top of the
script into `~/.cache/autobahn-sources`, or wherever `AUTOBAHN_SOURCES` says), then `test/Autobahn/run.sh`. It
needs dotnet, node and npm (for `ws`, once), git, a Python 2.7 (`python2.7`, pyenv's, or `AUTOBAHN_PYTHON2`) and
a Python 3. Nothing is compiled or pip-installed: the sources' package directories are put on `PYTHONPATH`. Missing
sources: it says which and exits 2. A run takes about an hour on two shared cores (each target 25-30 minutes, nearly
all of it the Python 2.7 client; `wstest.py` replaces autobahn's byte-at-a-time UTF-8 validator and XOR masker with
exact faster equivalents, checked against autobahn's own at every start: without them one target did not finish in
30 minutes) and uses loopback only.

A few of the cases that differ depend on timing: 3.x and 4.x send a text message and then a frame the gateway
refuses, and whether the message's echo comes back before the gateway's close 1002 decides OK or NON-STRICT (the
octet-wise variants 4.1.5 and 4.2.5 differed in an earlier run and did not in the one below).

**Not in CI.** CI has no access to these sources (GitHub is not reachable from it and the suite is Python 2.7
only), so it cannot run this. It is run by hand before each release, and its last report is committed here.
"""


def case_key(case_id):
    return tuple(int(p) if p.isdigit() else p for p in case_id.split("."))


def load(report_dir):
    with open(os.path.join(report_dir, "index.json")) as f:
        index = json.load(f)
    if len(index) != 1:
        sys.exit(f"{report_dir}/index.json: expected one agent, found {sorted(index)}")
    (agent, cases), = index.items()
    return agent, cases


def detail(report_dir, entry):
    try:
        with open(os.path.join(report_dir, entry["reportfile"])) as f:
            case = json.load(f)
        return case.get("result", ""), case.get("resultClose", ""), case.get("description", "")
    except (OSError, KeyError, ValueError):
        return "", "", ""


def counts_table(title, field, targets):
    counts = [collections.Counter(c[field] for c in cases.values()) for _, cases in targets]
    names = RESULTS + sorted({k for c in counts for k in c} - set(RESULTS))
    lines = [f"| {title} | " + " | ".join(label for label, _ in targets) + " |",
             "| --- | " + " | ".join("---:" for _ in targets) + " |"]
    for name in names:
        if any(c[name] for c in counts):
            lines.append(f"| {name} | " + " | ".join(str(c[name]) for c in counts) + " |")
    lines.append("| total | " + " | ".join(str(len(cases)) for _, cases in targets) + " |")
    return lines


def cell(text):
    return " ".join(re.sub(r"</?[a-z]+>", "", str(text)).split()).replace("|", "\\|") or "–"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--direct", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--meta", action="append", default=[])
    args = parser.parse_args()

    _, direct = load(args.direct)
    _, gateway = load(args.gateway)
    missing = {"behavior": "(not run)", "behaviorClose": "(not run)"}
    differ = []
    for case_id in sorted(set(direct) | set(gateway), key=case_key):
        d, g = direct.get(case_id, missing), gateway.get(case_id, missing)
        if (d["behavior"], d["behaviorClose"]) != (g["behavior"], g["behaviorClose"]):
            differ.append((case_id, d, g))

    meta = dict(m.split("=", 1) for m in args.meta)
    out = [HEADER, "## Last run", ""]
    for key, label in [("date", "Date"), ("gateway", "Gateway"), ("backend", "Backend"), ("suite", "Suite"),
                       ("duration", "Duration")]:
        if key in meta:
            out.append(f"* {label}: {meta[key]}")
    out.append(f"* Cases: {len(set(direct) | set(gateway))} (all but 9.*); differing: **{len(differ)}**")
    out.append("")
    targets = [("backend directly", direct), ("through the gateway", gateway)]
    out += counts_table("behavior", "behavior", targets) + [""]
    out += counts_table("behaviorClose", "behaviorClose", targets) + [""]

    out += ["## Cases that differ", ""]
    if not differ:
        out.append("None: every case behaves the same through the gateway as against the backend alone.")
    else:
        groups = collections.Counter((d["behavior"], d["behaviorClose"], g["behavior"], g["behaviorClose"])
                                     for _, d, g in differ)
        out.append("By kind (direct behavior / close → through the gateway):")
        out.append("")
        for (db, dc, gb, gc), n in groups.most_common():
            ids = [c for c, d, g in differ if (d["behavior"], d["behaviorClose"], g["behavior"], g["behaviorClose"])
                   == (db, dc, gb, gc)]
            out.append(f"* {db} / {dc} → {gb} / {gc}: {n} ({', '.join(ids)})")
        out += ["", "| case | description | direct | through the gateway | gateway's result |",
                "| --- | --- | --- | --- | --- |"]
        for case_id, d, g in differ:
            d_result, _, description = detail(args.direct, d) if d is not missing else ("", "", "")
            g_result, g_close, g_description = detail(args.gateway, g) if g is not missing else ("", "", "")
            out.append(f"| {case_id} | {cell(description or g_description)} "
                       f"| {d['behavior']} / {d['behaviorClose']} | {g['behavior']} / {g['behaviorClose']} "
                       f"| {cell(g_result)} |")
    out.append("")

    with open(args.out, "w") as f:
        f.write("\n".join(out))
    print(f"{len(differ)} of {len(set(direct) | set(gateway))} cases differ", file=sys.stderr)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
