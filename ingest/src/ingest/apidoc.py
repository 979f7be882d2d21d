"""GET /openapi.json: the document that describes this API (teams/openapi.json is a copy)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from flask import Blueprint, Response, jsonify

bp = Blueprint("apidoc", __name__)


@cache
def openapi_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        resources.files("ingest").joinpath("openapi.json").read_text(encoding="utf-8")
    )
    return document


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())
