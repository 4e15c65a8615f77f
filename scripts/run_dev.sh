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

start web "$PY" manage.py runserver "$HOST:$PORT"
# More processes join here (the Microsoft simulator, a django-q2 worker):
# start worker "$PY" manage.py qcluster

wait -n
