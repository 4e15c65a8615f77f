# The portal's production image: gunicorn serves the web app by default; the
# same image runs the django-q2 workers (`docker run IMAGE worker`).
# Configuration comes from the environment: see .env.example and the README.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app

# Dependencies in their own layer: rebuilt only when requirements.txt changes.
# psycopg[binary] ships libpq, so no system packages are needed.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

RUN groupadd --system --gid 10001 portal \
    && useradd --system --uid 10001 --gid portal --home-dir /app --no-create-home --shell /usr/sbin/nologin portal

COPY --chmod=0755 docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
COPY . .

# Static files are collected at build time with the production storage (the
# hashed manifest WhiteNoise serves). The key exists only for this command.
# The code stays owned by root; the portal user can write only to /app/var.
RUN DEBUG=false SECRET_KEY=collectstatic-at-build-time-only-not-a-runtime-secret-0123456789 \
        python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /app/var \
    && chown portal:portal /app/var

# Production posture by default: the container refuses to start without a
# SECRET_KEY. Without DATABASE_URL it uses a SQLite file in /app/var (mount a
# volume there); production uses PostgreSQL through DATABASE_URL.
ENV DEBUG=false \
    DATABASE_URL=sqlite:////app/var/db.sqlite3 \
    PORT=8000

USER 10001:10001
EXPOSE 8000
VOLUME ["/app/var"]

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["docker-entrypoint.sh", "healthcheck"]

ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["web"]
