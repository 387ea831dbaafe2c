"""/metrics (core/metrics.py) and request ids / JSON log lines (core/logs.py)."""

from __future__ import annotations

import json
import logging

from tests.factories import resident_id


def test_metrics_count_requests_per_endpoint_and_read_the_database(client, county_client):
    county_client.get("/api/v1/console/dashboard")
    client.get("/api/v1/health")
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.mimetype == "text/plain"
    body = r.get_data(as_text=True)
    assert (
        'mediation_http_requests_total{endpoint="console.Dashboard",method="GET",status="200"}'
        in body
    )
    assert 'mediation_http_request_duration_seconds_bucket{endpoint="health.Health"' in body
    assert "mediation_db_pool_in_use" in body
    for name in (
        "mediation_database_up 1.0",
        "mediation_scheduler_lag_seconds",
        "mediation_reminders_due",
        "mediation_outbox_backlog",
        "mediation_scheduler_active",
    ):
        assert name in body, name


def test_metrics_never_carry_a_path_or_what_was_typed(client):
    rid = resident_id()
    client.get(f"/api/v1/no-such-page/{rid}?phone=13800138000")
    client.get(f"/api/v1/disputes/{rid}")
    body = client.get("/metrics").get_data(as_text=True)
    assert rid not in body and "13800138000" not in body
    assert 'endpoint="unmatched"' in body


def test_metrics_answer_loopback_only(client):
    r = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert r.status_code == 404


def test_request_id_is_answered_and_taken_from_the_proxy(client):
    r = client.get("/api/v1/health")
    assert len(r.headers["X-Request-ID"]) == 32
    r = client.get("/api/v1/health", headers={"X-Request-ID": "nginx-abc12345"})
    assert r.headers["X-Request-ID"] == "nginx-abc12345"
    r = client.get("/api/v1/health", headers={"X-Request-ID": "x; DROP <script>"})
    assert r.headers["X-Request-ID"] != "x; DROP <script>"


def test_json_lines_carry_the_request_id_and_are_redacted(app):
    import io

    from core import logs

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.RequestIdFilter())
    handler.setFormatter(logs.json_formatter())
    logger = logging.getLogger("mediation.test_json")
    logger.addHandler(handler)
    try:
        token = logs.REQUEST_ID.set("req-12345678")
        logger.warning("party phone 13800138000 id %s", "330681199001011234")
        logs.REQUEST_ID.reset(token)
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["request_id"] == "req-12345678"
    assert line["level"] == "WARNING" and line["logger"] == "mediation.test_json"
    assert "13800138000" not in line["message"] and "330681199001011234" not in line["message"]
