"""The ceiling: the same gunicorn configuration serving an endpoint that does nothing.

`gunicorn -c ingest/gunicorn.conf.py 'noop_app:create_app()'` (with bench/ on PYTHONPATH).
"""

from flask import Flask, jsonify, request


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/tickets")
    def accept():
        request.get_data()  # read the body, as ingest does, and nothing else
        return jsonify({}), 202

    @app.get("/readyz")
    def ready():
        return jsonify({"status": "ready"})

    return app
