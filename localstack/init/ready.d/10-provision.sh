#!/bin/sh
# LocalStack ready hook: create the router's queues, dead-letter queues and bucket with the
# same code as `make provision` (the shared library is mounted at /opt/ticketrouter).
# It runs on LocalStack's own interpreter, which has the library's two dependencies
# (boto3, pydantic). Queue and bucket names come from this container's environment.
set -eu
PY=/opt/code/localstack/.venv/bin/python
[ -x "$PY" ] || PY=python3
export AWS_ENDPOINT_URL=http://localhost:4566
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export PYTHONPATH=/opt/ticketrouter
exec "$PY" -m ticketrouter.provision
