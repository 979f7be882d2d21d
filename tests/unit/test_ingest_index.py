"""GET / answers a short index; /docs renders the OpenAPI document with assets served locally."""

from __future__ import annotations

import pytest

from ingest import create_app


@pytest.fixture
def client(ingest_aws):
    return create_app({"ingest_api_token": "t"}).test_client()


def test_the_root_answers_an_index_with_links_instead_of_a_404(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["X-Service"] == "ticketrouter-ingest"
    links = response.get_json()["links"]
    assert links["docs"] == "/docs/" and links["health"] == "/healthz" and "9000" in links["console"]


def test_docs_render_the_openapi_document_with_no_asset_from_the_network(client):
    assert client.get("/docs").status_code in (301, 308)
    page = client.get("/docs/").get_data(as_text=True)
    assert '"url": "/openapi.json"' in page
    assert "https://" not in page.replace("https://swagger.io", "")  # no CDN: every asset is ours
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        with client.get(f"/docs/{asset}") as response:
            assert response.status_code == 200 and len(response.data) > 1000, asset
