"""GET /openapi.json: the document that describes this API (teams/openapi.json is a copy)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from flask import Blueprint, jsonify

bp = Blueprint("apidoc", __name__)


@cache
def openapi_document() -> dict[str, Any]:
    return json.loads(resources.files("ingest").joinpath("openapi.json").read_text(encoding="utf-8"))


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
