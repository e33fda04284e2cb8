"""Large bodies through the edge, both ways, against an HTTP server on loopback.

The server stands in for the trips service (a real socket, a real HTTP exchange): it answers
an upload with the digest and size of what it received, and a download with a body of unknown
length sent in pieces. The upload is larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE``: had the edge
read it whole (``request.body``), Django would have refused it.
"""

import hashlib
import http.server
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.http import StreamingHttpResponse
from django.test import override_settings
from rest_framework.test import APIClient

from monolith.cohorts.services import CohortChange, cohort_change
from monolith.cohorts.snapshot import routing_snapshot_forget
from monolith.platform.access import Role
from monolith.platform.interservice.client import deployables_forget
from monolith.platform.interservice.tokens import TOKEN_HEADER, internal_token_verify

DOWNLOAD_CHUNKS = 40
CHUNK = bytes(range(256)) * 256  # 64 KiB: 2.5 MiB in all


class _Service(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        digest, received = hashlib.sha256(), 0
        while received < length:
            piece = self.rfile.read(min(65536, length - received))
            digest.update(piece)
            received += len(piece)
        self.seen.append(dict(self.headers))
        answer = f'{{"sha256": "{digest.hexdigest()}", "size": {received}}}'.encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.send_header("X-Service-Header", "kept")
        self.send_header("Set-Cookie", "sessionid=not-the-edges")
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self) -> None:
        self.seen.append(dict(self.headers))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for _ in range(DOWNLOAD_CHUNKS):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def service_url() -> Iterator[str]:
    _Service.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Service)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        deployables_forget()


@pytest.fixture
def trips_to_the_service(
    service_url: str,
    make_user: Callable[..., Any],
    django_capture_on_commit_callbacks: Any,
) -> Iterator[None]:
    prefix = f"fleet-test:{uuid.uuid4().hex}:"
    with override_settings(
        COHORT_ROUTED_MODULES=["trips"],
        COHORT_ROUTING_KEY_PREFIX=prefix,
        FLEET_SERVICE_URLS={"trips": service_url},
    ):
        routing_snapshot_forget()
        mover = make_user("mover-edge", Role.MIGRATION_TEAM)
        with django_capture_on_commit_callbacks(execute=True):
            cohort_change(
                module="trips", change=CohortChange(everyone=True), by=mover, reason="edge test"
            )
        routing_snapshot_forget()
        yield
    routing_snapshot_forget()


@pytest.mark.django_db
def test_a_large_upload_is_sent_on_as_it_arrives(
    trips_to_the_service: None, rider: Any, client_for: Callable[..., APIClient]
) -> None:
    body = b'{"pad": "' + b"y" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1024 * 1024) + b'"}'

    response = client_for(rider).generic(
        "POST",
        "/api/v1/trips/",
        body.decode(),
        content_type="application/json",
        HTTP_X_REQUEST_ID="up-1",
    )

    assert response.status_code == 201, response.content
    assert response["X-Served-By"] == "service"
    assert response.json() == {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
    assert response["X-Service-Header"] == "kept"
    assert "sessionid" not in response.cookies
    (seen,) = _Service.seen
    # The rider's own credentials stay at the edge; the service gets a token naming them.
    assert "Authorization" not in seen
    assert "Cookie" not in seen
    claims = internal_token_verify(seen[TOKEN_HEADER], audience="trips")
    assert (claims.account_id, claims.roles, claims.request_id) == (rider.id, ("rider",), "up-1")
    assert seen["X-Request-ID"] == "up-1"
    assert seen["X-Forwarded-For"] == "127.0.0.1"


@pytest.mark.django_db
def test_a_large_answer_of_unknown_length_is_streamed(
    trips_to_the_service: None, rider: Any, client_for: Callable[..., APIClient]
) -> None:
    response = client_for(rider).get("/api/v1/trips/")

    assert isinstance(response, StreamingHttpResponse)
    assert response.status_code == 200
    assert response["X-Served-By"] == "service"
    pieces = list(response.streaming_content)
    assert len(pieces) > 1
    assert b"".join(pieces) == CHUNK * DOWNLOAD_CHUNKS
