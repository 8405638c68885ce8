# Shared by the benchmark scripts (sourced, not run): a scratch directory with npm `ws`, the storm client and the
# node echo backend, a Release build of the gateway, and helpers. Expects $repo and a name in $bench.
# Every process a script starts goes into `pids` and is stopped, by PID, when the script exits.
work="$(mktemp -d "/tmp/gateway-$bench-bench.XXXXXX")"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

echo "work dir $work" >&2
cp "$repo/test/Benchmarks/admission/storm.mjs" "$repo/test/Benchmarks/admission/echo-server.mjs" "$repo/test/Benchmarks/admission/otlp-sink.mjs" "$work/"
(cd "$work" && npm install --silent --no-audit --no-fund ws@8 >/dev/null)
dotnet publish "$repo/src/Gateway" -c Release -o "$work/gateway" --nologo -v quiet >/dev/null

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wait_for() { # file regex
  for _ in $(seq 1 200); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for /$2/ in $1" >&2; cat "$1" >&2; return 1
}
