#!/bin/sh
# Entry point of the portal image. One image, several roles:
#   web          gunicorn serving portal.wsgi on $PORT (the default)
#   worker       the django-q2 cluster: python manage.py qcluster
#   migrate      apply database migrations, then exit
#   healthcheck  used by the image's HEALTHCHECK
#   anything else is run as given, e.g. `python manage.py createsuperuser`.
set -eu

case "${1:-web}" in
web)
    if [ $# -gt 0 ]; then shift; fi
    # No access log: gunicorn writes it without the portal's secret redaction,
    # and OAuth callbacks carry codes in their query strings.
    exec gunicorn portal.wsgi \
        --bind "0.0.0.0:${PORT:-8000}" \
        --workers "${WEB_CONCURRENCY:-2}" \
        --timeout 60 \
        --graceful-timeout 30 \
        --no-control-socket \
        --error-logfile - \
        "$@"
    ;;
worker)
    exec python manage.py qcluster
    ;;
migrate)
    exec python manage.py migrate --noinput
    ;;
healthcheck)
    # Workers serve no HTTP: Docker restarts them when the process exits.
    if tr '\0' ' ' </proc/1/cmdline | grep -q qcluster; then
        exit 0
    fi
    exec python -c 'import os, sys, urllib.request
url = "http://127.0.0.1:%s/healthz" % os.environ.get("PORT", "8000")
sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)'
    ;;
*)
    exec "$@"
    ;;
esac
