# calmstrap service image. BLE goes through the host's BlueZ over D-Bus (see docker-compose.yml); the
# compose healthcheck is `calmstrap health` (the service's heartbeat file in /data).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# the IANA time zones (zoneinfo) for [general] timezone / TZ
RUN apt-get update && apt-get install -y --no-install-recommends tzdata && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY sensors ./sensors
COPY processing ./processing
COPY alerts ./alerts
COPY storage ./storage
COPY exports ./exports
COPY calmstrap ./calmstrap
RUN pip install --no-compile . \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin calmstrap \
 && mkdir -p /data && chown calmstrap /data && chmod 0700 /data

USER calmstrap
VOLUME ["/data"]
ENV CALMSTRAP_GENERAL__DATA_DIR=/data
ENTRYPOINT ["calmstrap"]
CMD ["run"]
