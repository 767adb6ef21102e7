#!/usr/bin/env bash
# Run the shared conformance harness against the demo gateway (fresh state) and check it.
set -euo pipefail
cd "$(dirname "$0")/.."
# The checker judges failures by cause; first show it rejects causes it does not list.
python3 .ci/conformance_check.py --self-test
HARNESS=$(cd ../shared/conformance && pwd)
bash "$HARNESS/setup.sh"

work=$(mktemp -d)
cp -r deploy/demo "$work/demo"
rm -rf "$work/demo/data"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cargo build --quiet
./target/debug/crmdav serve --config "$work/demo/crmdav.toml" --listen "127.0.0.1:$port" \
  > "$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null

out="$work/conformance"
CONF_OUT="$out" "$HARNESS/run_all.sh" "http://127.0.0.1:$port/" demo demo > "$work/summary.json"
python3 .ci/conformance_check.py "$work/summary.json" "$out"
