#!/usr/bin/env bash
# The development portal behind `make run`: migrate, load the demo data, then
# run every process in the foreground until Ctrl-C (or until one of them
# exits), and stop them all together.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${VENV:-.venv}/bin/python"
HOST="${PORTAL_HOST:-127.0.0.1}"
PORT="${PORTAL_PORT:-8000}"

echo "==> migrating the database"
"$PY" manage.py migrate --noinput --verbosity 0
"$PY" manage.py seed_demo --url "http://$HOST:$PORT/"

pids=()
# Each process gets its own session, so stopping it stops its children too
# (runserver's autoreloader runs the server in a child process).
start() {
    local name=$1
    shift
    echo "==> starting $name: $*"
    setsid "$@" &
    pids+=("$!")
}

stop() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || true
    done
    wait || true
}
trap stop INT TERM EXIT

# A local Microsoft (identity platform + Graph) so the whole product runs
# without an Azure account; it writes the settings that point the portal at it.
mkdir -p var
rm -f var/simulator.env
start simulator "$PY" manage.py microsoft_simulator --port "${SIMULATOR_PORT:-8443}" \
    --users "${SIMULATOR_USERS:-2000}" --seed 1 --state-file var/simulator-state.json
for _ in $(seq 1 100); do
    [ -s var/simulator.env ] && break
    sleep 0.2
done
[ -s var/simulator.env ] || { echo "the Microsoft simulator did not start" >&2; exit 1; }
set -a
# shellcheck disable=SC1091
. var/simulator.env
set +a

# E-mails (invitations, connection alerts) go to EMAIL_URL; by default the
# console backend prints them here, from the web process and the worker.
echo "==> e-mails are printed below (EMAIL_URL=${EMAIL_URL:-consolemail://})"
start web "$PY" manage.py runserver "$HOST:$PORT"
start worker "$PY" manage.py qcluster

wait -n
