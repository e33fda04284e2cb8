import pytest
from django.test import Client, override_settings


@pytest.fixture
def web() -> Client:
    return Client()


def test_healthz_answers_without_touching_anything(web: Client) -> None:
    response = web.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ready_when_database_and_broker_answer(web: Client) -> None:
    response = web.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
@override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0")
def test_readyz_is_503_with_retry_after_when_the_broker_is_down(web: Client) -> None:
    response = web.get("/readyz")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "broker" in response.json()["problems"]


@pytest.mark.django_db
@override_settings(CELERY_BROKER_URL="")
def test_readyz_says_when_no_broker_is_configured(web: Client) -> None:
    response = web.get("/readyz")
    assert response.status_code == 503
    assert "CELERY_BROKER_URL" in response.json()["problems"]["broker"]


def test_request_id_is_honoured_and_returned(web: Client) -> None:
    response = web.get("/healthz", HTTP_X_REQUEST_ID="req-42.abc")
    assert response["X-Request-ID"] == "req-42.abc"


def test_request_id_is_created_when_missing_or_unsafe(web: Client) -> None:
    created = web.get("/healthz")["X-Request-ID"]
    replaced = web.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"]
    assert len(created) == 32
    assert replaced != "bad id\nwith newline"
    assert len(replaced) == 32


@pytest.mark.django_db
def test_metrics_count_requests_by_module_and_status(web: Client) -> None:
    web.get("/api/v1/vehicles/")
    body = web.get("/metrics").content.decode()
    assert 'fleet_http_requests_total{method="GET",module="vehicles",status="401"}' in body
    assert "fleet_http_request_duration_seconds_bucket" in body


def test_an_unknown_api_url_is_a_json_404(web: Client) -> None:
    response = web.get("/api/v1/trips/not-a-uuid/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_an_unknown_page_elsewhere_is_djangos_404(web: Client) -> None:
    response = web.get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_an_outage_error_answers_503_with_retry_after() -> None:
    from monolith.platform.errors import ServiceUnavailable
    from monolith.platform.rest import fleet_exception_handler

    response = fleet_exception_handler(ServiceUnavailable("The gateway is down."), {})
    assert response is not None
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.data == {"detail": "The gateway is down.", "code": "unavailable"}
