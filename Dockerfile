# One recipe for the five images: ingest, the three workers and the stand-ins.
# Build from the repository root, naming the service twice (its folder and its stage):
#   docker build --build-arg SERVICE=worker-slack --target worker-slack -t ticketrouter/worker-slack .
# docker-compose.yml and `make images-push` (scripts/deploy_aws.py) do exactly that.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS deps
ARG SERVICE
# Dependencies only, from the pyproject files and the exact pins: no source is copied yet,
# so a code change reuses this layer. pip runs from a venv of its own, so neither pip nor
# setuptools lands in the service's venv; slim_venv.py removes what the services never load.
COPY constraints.txt scripts/service_requirements.py scripts/slim_venv.py /build/
COPY common/pyproject.toml /build/common/
COPY ${SERVICE}/pyproject.toml /build/${SERVICE}/
RUN test -n "${SERVICE}" \
 && python3 -m venv /build/pip \
 && python3 -m venv --without-pip /opt/venv \
 && python3 /build/service_requirements.py /build/common/pyproject.toml /build/${SERVICE}/pyproject.toml >/build/requirements.txt \
 && /build/pip/bin/pip --python /opt/venv/bin/python install --no-cache-dir --disable-pip-version-check \
      -c /build/constraints.txt -r /build/requirements.txt \
 && python3 /build/slim_venv.py /opt/venv

FROM ${BASE_IMAGE} AS app
ARG SERVICE
# An unprivileged system user; nothing in the image is writable by it except /tmp.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=deps /opt/venv /opt/venv
# The source goes last and is imported from PYTHONPATH: changing it rebuilds only these layers.
COPY common/src /app/common
COPY ${SERVICE}/src /app/service
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app/common:/app/service \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER app

# Ingest API: validates tickets and queues them by priority (gunicorn on :8080).
FROM app AS ingest
COPY ingest/gunicorn.conf.py /app/gunicorn.conf.py
ENV INGEST_BIND=0.0.0.0:8080 \
    INGEST_METRICS_PORT=9100 \
    INGEST_METRICS_HOST=0.0.0.0
# 8080: the public API (what the tunnel publishes). 9100: /metrics, for Prometheus on the
# internal network only; never publish it.
EXPOSE 8080 9100
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-S", "-m", "ticketrouter.healthcheck", "8080", "/healthz"]
CMD ["gunicorn", "-c", "/app/gunicorn.conf.py", "ingest:create_app()"]

# What the three workers share: /metrics for Prometheus, and /healthz, 200 while the
# consumer loop keeps polling. Docker 20.10 probes first after one interval (no
# --start-interval): 5 s keeps `make up` short, and a probe costs a few milliseconds.
FROM app AS worker
ENV WORKER_METRICS_PORT=9100 \
    WORKER_METRICS_HOST=0.0.0.0
EXPOSE 9100
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-S", "-m", "ticketrouter.healthcheck", "9100", "/healthz"]

# High-priority tickets → Slack.
FROM worker AS worker-slack
CMD ["python", "-m", "worker_slack"]

# Medium-priority tickets → Trello cards.
FROM worker AS worker-trello
CMD ["python", "-m", "worker_trello"]

# Low-priority tickets → JSON objects in S3.
FROM worker AS worker-s3
CMD ["python", "-m", "worker_s3"]

# Offline stand-ins for Slack (:9001) and Trello (:9002) and the dev console (:9000); the
# service is the argument.
FROM app AS standins
ENV STANDIN_HOST=0.0.0.0
EXPOSE 9001 9002
ENTRYPOINT ["python", "-m", "standins"]
CMD ["slack"]
