"""GET / (a short index of what this server offers) and GET /docs (the OpenAPI document in
Swagger UI, whose assets are served from the flask-swagger-ui package: no network needed)."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify
from flask_swagger_ui import get_swaggerui_blueprint

bp = Blueprint("index", __name__)
# Also the identity `make dev` checks before it calls ingest ready: not just anybody on the port.
SERVICE = "ticketrouter-ingest"


@bp.get("/")
def index() -> Response:
    response = jsonify(
        {
            "service": SERVICE,
            "links": {
                "docs": "/docs/",
                "openapi": "/openapi.json",
                "health": "/healthz",
                "ready": "/readyz",
                "submit": "POST /tickets",
                "console": "the dev console of make dev / make up: http://127.0.0.1:9000",
            },
        }
    )
    response.headers["X-Service"] = SERVICE
    return response


def register(app: Flask) -> None:
    """The index, and Swagger UI at /docs/ reading /openapi.json."""
    app.register_blueprint(bp)
    app.register_blueprint(
        get_swaggerui_blueprint("/docs", "/openapi.json", config={"app_name": "Ticket router ingest API"})
    )
