"""How gunicorn serves ingest: the worker class (imported by gunicorn's master process).

Kept apart from the `ingest` package on purpose: gunicorn imports the worker class in the
master, before it forks, and the gevent worker monkey-patches only after the fork. Importing
`ingest` (boto3, botocore, urllib3) in the master would load them unpatched into every worker,
which then fails to boot (seen: `RecursionError` in `ssl.SSLContext.options` as botocore builds
its TLS context). tests/unit/test_ingest_server.py checks what the master imports.
"""
