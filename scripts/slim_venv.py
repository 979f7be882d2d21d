"""Remove from an image's virtualenv what the services never load; print what it removed.

Run by the Dockerfile's dependency stage right after pip (`python3 slim_venv.py /opt/venv`):
- botocore/data holds one folder of API models per AWS service (~450, ~28 MB). The services
  create only SQS and S3 clients (tests/unit/test_images.py checks the code for others); STS
  stays for the credential providers that assume a role (AssumeRole, web identity). The files
  at the top of the folder (endpoints, partitions, retry modes, default configuration) stay:
  botocore reads them whenever it creates a client.
- Test suites that packages ship inside themselves (gevent/tests, greenlet/tests): never imported.
pip and setuptools are not removed here: the Dockerfile never installs them into the venv.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

KEPT_AWS_MODELS = frozenset({"s3", "sqs", "sts"})


def unused_paths(site_packages: Path) -> list[Path]:
    """What the services never load, under one site-packages folder."""
    models = site_packages / "botocore" / "data"
    unused = [p for p in models.glob("*") if p.is_dir() and p.name not in KEPT_AWS_MODELS]
    unused += [p for p in site_packages.glob("*/tests") if p.is_dir() and (p.parent / "__init__.py").exists()]
    return sorted(unused)


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(venv: str) -> int:
    [site_packages] = Path(venv).glob("lib/python3*/site-packages")
    removed = 0
    for path in unused_paths(site_packages):
        removed += size(path)
        shutil.rmtree(path)
    print(f"slim_venv: removed {removed / 1e6:.1f} MB from {site_packages}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
