#!/usr/bin/env bash
# Run the shared conformance harness against the demo gateway (fresh state) and check it;
# then once more against two instances on one PostgreSQL database behind a round-robin front
# (.ci/front.py), with the same checker: several instances behave as one server.
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
pids="$pid"
pg_pid=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for p in $pids; do wait "$p" 2>/dev/null || true; done
  # SIGINT: PostgreSQL's fast shutdown.
  if [ -n "$pg_pid" ]; then kill -INT "$pg_pid" 2>/dev/null || true; wait "$pg_pid" 2>/dev/null || true; fi
  rm -rf "${pgdir:-}"
}
trap cleanup EXIT
# Nothing announces readiness but the answer itself: poll.
wait_healthy() {
  for _ in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && break
    sleep 0.5
  done
  curl -fsS "http://127.0.0.1:$1/healthz" >/dev/null
}
wait_healthy "$port"

out="$work/conformance"
CONF_OUT="$out" "$HARNESS/run_all.sh" "http://127.0.0.1:$port/" demo demo > "$work/summary.json"
python3 .ci/conformance_check.py "$work/summary.json" "$out"

# ---- Two instances on one PostgreSQL behind a round-robin front (issue 11, "Done means").
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$pgbin" ]; then
  echo "no PostgreSQL server binaries: the two-instance conformance run cannot start" >&2
  exit 1
fi
pgdir=$(mktemp -d)
# initdb and postgres refuse to run as root: then as the postgres user (setpriv execs, so $!
# below is the server's own pid, which the cleanup stops).
as_pg=(env)
if [ "$(id -u)" = 0 ]; then
  chown "$(id -u postgres):$(id -g postgres)" "$pgdir"
  as_pg=(setpriv --reuid="$(id -u postgres)" --regid="$(id -g postgres)" --clear-groups --)
fi
"${as_pg[@]}" "$pgbin/initdb" -D "$pgdir/data" -U postgres --auth=trust --no-sync --locale=C \
  --encoding=UTF8 > "$work/initdb.log" 2>&1
pgport=$(free_port)
"${as_pg[@]}" "$pgbin/postgres" -D "$pgdir/data" -p "$pgport" -k "$pgdir" \
  -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
  > "$work/postgres.log" 2>&1 &
pg_pid=$!
for _ in $(seq 1 120); do
  "$pgbin/pg_isready" -q -h "$pgdir" -p "$pgport" && break
  sleep 0.5
done
"$pgbin/createdb" -h "$pgdir" -p "$pgport" -U postgres conformance
cp -r deploy/demo "$work/pg-demo"
rm -rf "$work/pg-demo/data"
sed -i "s#^state = .*#state = \"postgres://postgres@127.0.0.1:$pgport/conformance\"#" \
  "$work/pg-demo/crmdav.toml"
ports=""
for n in 1 2; do
  p=$(free_port)
  ./target/debug/crmdav serve --config "$work/pg-demo/crmdav.toml" --listen "127.0.0.1:$p" \
    > "$work/server-pg-$n.log" 2>&1 &
  pids="$pids $!"
  # One at a time: the first migrates and seeds the demo data, the second finds it.
  wait_healthy "$p"
  ports="$ports $p"
done
front=$(free_port)
# shellcheck disable=SC2086 # the backend ports are separate arguments
python3 .ci/front.py "$front" $ports > "$work/front.log" 2>&1 &
pids="$pids $!"
wait_healthy "$front"
out2="$work/conformance-pg"
CONF_OUT="$out2" "$HARNESS/run_all.sh" "http://127.0.0.1:$front/" demo demo > "$work/summary-pg.json"
python3 .ci/conformance_check.py "$work/summary-pg.json" "$out2"
