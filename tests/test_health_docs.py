"""The service answers, its OpenAPI document is generated and the docs page works offline."""

import re


def test_health_checks_the_database(client):
    r = client.get("/api/v1/health")
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["postgis"].startswith("3.")


def test_openapi_document_lists_paths_and_error_schema(client):
    r = client.get("/api/openapi.json")
    assert r.status_code == 200
    spec = r.get_json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/locate" in spec["paths"]
    error = spec["components"]["schemas"]["Error"]
    assert {"code", "message"} <= set(error["properties"])


def test_docs_page_loads_assets_from_this_server(client):
    r = client.get("/api/docs")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, html
    for url in assets:
        assert not url.startswith("http"), f"docs page needs the internet for {url}"
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.data) > 1000


def test_unknown_route_uses_the_one_error_shape(client):
    r = client.get("/api/v1/nope")
    assert r.status_code == 404
    body = r.get_json()
    assert body["code"] == "not_found"
    assert body["message"] == "未找到该记录"
