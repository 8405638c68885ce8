#!/usr/bin/env bash
# Autobahn|Testsuite conformance run (issue 14): the gateway, with a conformant echo backend behind it, must do
# everything the backend does alone, case for case.
#
#   test/Autobahn/run.sh                 the run: publish the gateway, start the backend and the gateway on
#                                        loopback, run the fuzzing client against each, compare, write the report
#   test/Autobahn/run.sh get-sources [URL-TEMPLATE]
#                                        clone the sources below into $AUTOBAHN_SOURCES (missing ones only)
#
# What it runs: wstest's fuzzingclient (crossbario/autobahn-testsuite 0.8.2, Python 2.7, Twisted) twice with the
# same spec (cases ["*"], exclude-cases ["9.*"] (the performance group), exclude-agent-cases {}): once against
# the backend directly, once through the gateway (route `/{**rest}` to that backend, frame and message limits
# 16 MiB, admission limits far above the suite's connection rate, heartbeat at its defaults: no case keeps the
# client silent for ProbeAfter). The backend is Node `ws` (npm, installed into $AUTOBAHN_CACHE) echoing every
# message as received, permessage-deflate on, so 12.* and 13.* run too. Then it compares each case's "behavior"
# and "behaviorClose" from the two reports' index.json and writes
#   docs/conformance/autobahn.md            how to run it, counts by result per target, every case that differs
#   docs/conformance/autobahn-direct.json   the two index.json files
#   docs/conformance/autobahn-gateway.json
# The HTML/JSON reports per case and the logs stay in test/Autobahn/reports/ (git-ignored).
# Exit: 0 every case behaves the same both ways, 1 some case differs, 2 sources or tools missing, other: it broke.
#
# What it needs: bash, git, dotnet (the repo's SDK), node + npm (the npm registry, once, for `ws`), Python 2.7
# (`python2.7`, or pyenv's 2.7.x, or AUTOBAHN_PYTHON2), Python 3.8+ (AUTOBAHN_PYTHON3, default python3; no
# packages), and these sources, nothing built and nothing pip-installed: each checkout's package directory is
# linked into test/Autobahn/.deps (git-ignored), which is all PYTHONPATH holds. No C extension is compiled:
# zope.interface, markupsafe and twisted fall back to pure Python. wstest.py stands in for pyOpenSSL (only
# wss:// needs it) and unittest2 (only the serializer mode needs it).
#
#   checkout dir (in $AUTOBAHN_SOURCES)  repository                     tag                   put on PYTHONPATH
sources_table='
autobahn-testsuite  crossbario/autobahn-testsuite   v0.8.2               autobahntestsuite/autobahntestsuite
autobahn-python     crossbario/autobahn-python      v0.10.9              autobahn
txaio               crossbario/txaio                v2.1.0               txaio
twisted             twisted/twisted                 twisted-19.10.0      src/twisted
zope.interface      zopefoundation/zope.interface   4.6.0                src/zope
six                 benjaminp/six                   1.16.0               six.py
jinja               pallets/jinja                   2.11.3               src/jinja2
markupsafe          pallets/markupsafe              1.1.1                src/markupsafe
attrs               python-attrs/attrs              19.3.0               src/attr
automat             glyph/automat                   v0.8.0               automat
constantly          twisted/constantly              15.1.0               constantly
incremental         twisted/incremental             incremental-16.10.1  src/incremental
hyperlink           python-hyper/hyperlink          v19.0.0              hyperlink
idna                kjd/idna                        v2.8                 idna
'
# These are the pins of autobahn-testsuite's own requirements for Python 2.7 / autobahn 0.10.9 (setup.py of
# v0.8.2: txaio<=2.1.0, autobahn==0.10.9, jinja2, markupsafe; requirements.txt of v25.10.1: Twisted 19.10.0,
# zope.interface 4.6.0, incremental 16.10.1, jinja2 2.11.3, markupsafe 1.1.1, six 1.16.0), and for Twisted's small
# dependencies the releases of its time that still support Python 2.7 (PyHamcrest, which Twisted lists, is only
# imported by its tests). Not needed by the fuzzing client: Werkzeug, klein, pyOpenSSL, service_identity,
# cryptography, unittest2.
#
# How to get them:
#   anywhere with GitHub:   test/Autobahn/run.sh get-sources
#                           (= git clone --depth 1 --branch <tag> https://github.com/<repository>.git <dir>, each)
#   in the agent sandbox:   the `fetch` tool for each repository (github:<repository>), which leaves a bare git
#                           directory under /work/.mirror/<owner>+<name>/repo, then
#                           test/Autobahn/run.sh get-sources 'file:///work/.mirror/{owner}+{name}/repo'
#   by hand:                git -C <bare repo> archive <tag> | tar -x -C "$AUTOBAHN_SOURCES/<dir>"
#
# Settings (environment):
#   AUTOBAHN_SOURCES        the checkouts above; default ~/.cache/autobahn-sources
#   AUTOBAHN_CACHE          npm `ws` install; default ~/.cache/gateway-autobahn
#   AUTOBAHN_PYTHON2        a Python 2.7; default python2.7 if it runs, else pyenv's newest 2.7
#   AUTOBAHN_PYTHON3        a Python 3.8+ for the comparison; default python3
#   AUTOBAHN_GATEWAY_BUILD  a directory holding an earlier `dotnet publish src/Gateway` (Gateway.dll) to reuse
#   AUTOBAHN_CASES          JSON list of the cases to run; default ["*"] (a subset is for trying things out: the
#                           report it writes then covers only those)
#   AUTOBAHN_TIMEOUT        seconds each fuzzing-client run may take; default 3600
#
# Cost: about an hour on two shared cores: 25-30 minutes per target, mostly the Python client (one core at most),
# plus the publish.
# Traffic stays on 127.0.0.1. Every process it starts is stopped, by PID, when it exits.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$repo/test/Autobahn"
sources="${AUTOBAHN_SOURCES:-$HOME/.cache/autobahn-sources}"
cache="${AUTOBAHN_CACHE:-$HOME/.cache/gateway-autobahn}"
ws_version="8.23.1"

if [ "${1:-}" = get-sources ]; then
  template='https://github.com/{owner}/{name}.git'
  [ -z "${2:-}" ] || template="$2"
  mkdir -p "$sources"
  while read -r dir repository tag _; do
    [ -n "$dir" ] || continue
    if [ -e "$sources/$dir" ]; then echo "have $dir"; continue; fi
    url="${template//\{owner\}/${repository%%/*}}"; url="${url//\{name\}/${repository#*/}}"
    echo "clone $repository $tag from $url"
    git -c advice.detachedHead=false clone --quiet --depth 1 --branch "$tag" "$url" "$sources/$dir"
  done <<< "$sources_table"
  exit 0
fi
[ $# -eq 0 ] || { echo "usage: $0 [get-sources [URL-TEMPLATE]]" >&2; exit 2; }

# --- Sources and tools -----------------------------------------------------------------------------------------
missing=()
while read -r dir repository tag path; do
  [ -n "$dir" ] || continue
  [ -e "$sources/$dir/$path" ] || missing+=("$(printf '%-20s %-31s %s' "$dir" "$repository" "$tag")")
done <<< "$sources_table"
if [ ${#missing[@]} -gt 0 ]; then
  {
    echo "Autobahn: sources missing in AUTOBAHN_SOURCES=$sources:"
    printf '  %s\n' "${missing[@]}"
    echo "Get them with: $0 get-sources   (or see the top of $0 for other ways)"
  } >&2
  exit 2
fi

python2="${AUTOBAHN_PYTHON2:-}"
if [ -z "$python2" ]; then
  if python2.7 -c 'import sys; assert sys.version_info[:2] == (2, 7)' >/dev/null 2>&1; then
    python2=python2.7
  elif command -v pyenv >/dev/null; then
    python2="$(ls -d "$(pyenv root)"/versions/2.7*/bin/python2.7 2>/dev/null | sort -V | tail -1)"
  fi
fi
python3="${AUTOBAHN_PYTHON3:-python3}"
for tool in "$python2" "$python3" dotnet node npm; do
  if [ -z "$tool" ] || ! command -v "$tool" >/dev/null; then
    echo "Autobahn: ${tool:-python2.7} not found (Python 2.7: set AUTOBAHN_PYTHON2)" >&2; exit 2
  fi
done

# --- Work area, processes ---------------------------------------------------------------------------------------
work="$(mktemp -d /tmp/gateway-autobahn.XXXXXX)"
reports="$here/reports"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
rm -rf "$reports"; mkdir -p "$reports/logs"
wait_for() { # file regex
  for _ in $(seq 1 300); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for /$2/ in $1" >&2; cat "$1" >&2; return 1
}

# Python 2.7 path: the package directories of the checkouts, linked, nothing else.
rm -rf "$here/.deps"; mkdir -p "$here/.deps"
while read -r dir _ _ path; do
  [ -n "$dir" ] && ln -s "$sources/$dir/$path" "$here/.deps/"
done <<< "$sources_table"
py2env=(env PYTHONPATH="$here/.deps" PYTHONDONTWRITEBYTECODE=1 PURE_PYTHON=1)
wstest() { # label spec
  (cd "$work" && exec "${py2env[@]}" timeout "${AUTOBAHN_TIMEOUT:-3600}" "$python2" "$here/wstest.py" --mode fuzzingclient --spec "$2") \
    > "$reports/logs/wstest-$1.log" 2>&1 &
  local pid=$!; pids+=("$pid")
  if ! wait "$pid"; then echo "wstest ($1) failed:" >&2; tail -30 "$reports/logs/wstest-$1.log" >&2; return 1; fi
}
if ! versions="$("${py2env[@]}" "$python2" "$here/wstest.py" --autobahnversion 2>&1)" \
   || ! twisted_version="$("${py2env[@]}" "$python2" "$here/wstest.py" --version 2>&1)"; then
  echo "Autobahn: wstest does not start under $python2:" >&2; echo "$versions" >&2; exit 2
fi
autobahn_version="$(echo "$versions" | tr '\n' ' ' | sed -E 's/Autobahn ([^ ]+) AutobahnTestSuite ([^ ]+) ?/autobahntestsuite \2, autobahn \1/'), Twisted ${twisted_version##* }"

# --- The backend: Node ws echo, permessage-deflate on -----------------------------------------------------------
if [ "$(node -p "try { require('$cache/node/node_modules/ws/package.json').version } catch { '' }")" != "$ws_version" ]; then
  npm install --prefix "$cache/node" --silent --no-audit --no-fund "ws@$ws_version" >/dev/null
fi
cp "$here/echo-server.mjs" "$work/"; ln -s "$cache/node/node_modules" "$work/node_modules"
node "$work/echo-server.mjs" 0 > "$reports/logs/backend.log" 2>&1 &
pids+=($!)
wait_for "$reports/logs/backend.log" '^listening [0-9]+'
backend_port="$(grep -oE '[0-9]+$' "$reports/logs/backend.log" | head -1)"

# --- The gateway: published Release build, one route to the backend --------------------------------------------
if [ -n "${AUTOBAHN_GATEWAY_BUILD:-}" ]; then
  build="$AUTOBAHN_GATEWAY_BUILD"
else
  build="$work/gateway"
  echo "publishing the gateway" >&2
  dotnet publish "$repo/src/Gateway" -c Release -o "$build" --nologo -v quiet >/dev/null
fi
cat > "$work/gateway.json" <<EOF
{
  "Gateway": {
    "Server": {
      "Public": { "Address": "127.0.0.1", "Port": 0 },
      "Management": { "Address": "127.0.0.1", "Port": 0 }
    },
    "Admission": {
      "Rate": { "PermitsPerSecond": 100000, "Burst": 100000 },
      "PerClient": { "PermitsPerSecond": 0, "MaxSessions": 0 },
      "Watermarks": { "Low": 1000000, "High": 1000000, "Critical": 1000000 }
    }
  },
  "ReverseProxy": {
    "Routes": {
      "autobahn": {
        "ClusterId": "echo",
        "Match": { "Path": "/{**rest}" },
        "Metadata": { "Gateway.MaxFrameSize": "16777216", "Gateway.MaxMessageSize": "16777216" }
      }
    },
    "Clusters": {
      "echo": { "Destinations": { "ws": { "Address": "http://127.0.0.1:$backend_port" } } }
    }
  }
}
EOF
cp "$work/gateway.json" "$reports/logs/gateway.json"
(cd "$build" && ASPNETCORE_ENVIRONMENT=Production GATEWAY_CONFIG="$work/gateway.json" exec dotnet Gateway.dll) \
  > "$reports/logs/gateway.log" 2>&1 &
pids+=($!)
wait_for "$reports/logs/gateway.log" 'Gateway listening: public http://127\.0\.0\.1:[0-9]+'
gateway_port="$(grep -oE 'public http://127\.0\.0\.1:[0-9]+' "$reports/logs/gateway.log" | head -1 | grep -oE '[0-9]+$')"

# --- The two runs -----------------------------------------------------------------------------------------------
spec() { # label port
  cat > "$work/spec-$1.json" <<EOF
{
  "options": { "failByDrop": false },
  "outdir": "$reports/$1",
  "servers": [ { "agent": "$1", "url": "ws://127.0.0.1:$2/autobahn", "options": { "version": 18 } } ],
  "cases": ${AUTOBAHN_CASES:-[\"*\"]},
  "exclude-cases": [ "9.*" ],
  "exclude-agent-cases": {}
}
EOF
  cp "$work/spec-$1.json" "$reports/logs/"
}
spec direct "$backend_port"
spec gateway "$gateway_port"
started=$SECONDS
echo "fuzzing client against the backend directly (port $backend_port)" >&2
wstest direct "$work/spec-direct.json"
direct_seconds=$((SECONDS - started))
echo "fuzzing client through the gateway (port $gateway_port)" >&2
wstest gateway "$work/spec-gateway.json"
gateway_seconds=$((SECONDS - started - direct_seconds))

# --- Compare, report --------------------------------------------------------------------------------------------
out="$repo/docs/conformance"
mkdir -p "$out"
cp "$reports/direct/index.json" "$out/autobahn-direct.json"
cp "$reports/gateway/index.json" "$out/autobahn-gateway.json"
commit="$(git -C "$repo" rev-parse --short HEAD)"
git -C "$repo" diff --quiet HEAD -- src 2>/dev/null || commit="$commit + uncommitted changes in src/"
set +e
"$python3" "$here/compare.py" \
  --direct "$reports/direct" --gateway "$reports/gateway" --out "$out/autobahn.md" \
  --meta "date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
  --meta "gateway=commit $commit, Release build, route limits 16 MiB, heartbeat defaults" \
  --meta "backend=Node $(node --version) ws $ws_version, perMessageDeflate: true" \
  --meta "suite=$autobahn_version, Python $("$python2" -c 'import platform; print(platform.python_version())')" \
  --meta "duration=direct ${direct_seconds} s, through the gateway ${gateway_seconds} s"
status=$?
set -e
echo "report: $out/autobahn.md (HTML reports: $reports/direct/index.html, $reports/gateway/index.html)" >&2
exit $status
