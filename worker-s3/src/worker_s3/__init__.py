"""Low-priority tickets → JSON objects in S3. Run with `python -m worker_s3`."""
