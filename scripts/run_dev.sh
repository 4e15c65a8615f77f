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

# Files of this run (the simulator's CA, settings and state); a test points it elsewhere.
VAR="${RUN_DEV_VAR:-var}"
# Seconds the processes get to stop on Ctrl-C before they are killed.
GRACE="${RUN_DEV_GRACE:-6}"

pids=()
names=()
# Each process gets its own session, so stopping it stops its children too
# (runserver's autoreloader runs the server in a child process).
start() {
    local name=$1
    shift
    echo "==> starting $name: $*"
    setsid "$@" &
    pids+=("$!")
    names+=("$name")
}

alive() {
    local pid
    for pid in "${pids[@]}"; do
        kill -0 -- "-$pid" 2>/dev/null && return 0
    done
    return 1
}

# Ctrl-C: SIGTERM to each process group, except the worker: django-q2's qcluster
# hangs when its sentinel and workers all get the signal at once, so only its
# main process gets it and stops its own children. Whatever still runs after
# GRACE seconds is killed, so Ctrl-C always returns the terminal.
stop() {
    trap - INT TERM EXIT
    local i
    echo "==> stopping"
    for i in "${!pids[@]}"; do
        if [ "${names[$i]}" = worker ]; then
            kill -TERM "${pids[$i]}" 2>/dev/null || true
        else
            kill -TERM -- "-${pids[$i]}" 2>/dev/null || true
        fi
    done
    for _ in $(seq 1 $((GRACE * 10))); do
        alive || break
        sleep 0.1
    done
    for i in "${!pids[@]}"; do
        kill -KILL -- "-${pids[$i]}" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap stop INT TERM EXIT

# A local Microsoft (identity platform + Graph) so the whole product runs
# without an Azure account; it writes the settings that point the portal at it.
mkdir -p "$VAR"
rm -f "$VAR/simulator.env"
start simulator "$PY" manage.py microsoft_simulator --port "${SIMULATOR_PORT:-8443}" \
    --users "${SIMULATOR_USERS:-2000}" --seed 1 --state-file "$VAR/simulator-state.json" \
    --ca-path "$VAR/simulator-ca.pem" --browser-port "${SIMULATOR_BROWSER_PORT:-8442}"
for _ in $(seq 1 150); do
    [ -s "$VAR/simulator.env" ] && break
    sleep 0.2
done
[ -s "$VAR/simulator.env" ] || { echo "the Microsoft simulator did not start" >&2; exit 1; }
set -a
# shellcheck disable=SC1090,SC1091
. "$VAR/simulator.env"
set +a

# E-mails (invitations, connection alerts) go to EMAIL_URL; by default the
# console backend prints them here, from the web process and the worker.
echo "==> e-mails are printed below (EMAIL_URL=${EMAIL_URL:-consolemail://})"
start web "$PY" manage.py runserver "$HOST:$PORT"
start worker "$PY" manage.py qcluster

wait -n
