"""Shadow mode's parts in one process: the comparison and its volatile fields, the bounded
runner, the status's mismatch rate, pruning, and the admin's read-only list.

Shadow reads between real processes are tested in monolith/platform/edge/tests.
"""

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from monolith.cohorts.models import ShadowMismatch
from monolith.cohorts.selectors import cohort_status
from monolith.cohorts.shadow import answers_compare, shadow_mismatches_prune
from monolith.cohorts.traffic import ShadowFate, ShadowOutcome, shadow_count, traffic_flush
from monolith.platform.access import Role
from monolith.platform.edge.shadow import ShadowRunner, shadow_drain
from monolith.platform.interservice.client import deployables_forget

TRIP: dict[str, Any] = {
    "id": "7d5f0c4e-0000-4000-8000-000000000001",
    "status": "assigned",
    "requested_at": "2026-11-26T04:00:00Z",
    "served_at": "2026-11-26T04:00:01.123Z",
    "fare": {"amount": "12.40", "quoted_at": "2026-11-26T04:00:00Z"},
}


def compare(
    monolith: Any,
    service: Any,
    *,
    statuses: tuple[int, int] = (200, 200),
    method: str = "GET",
    content_type: str = "application/json",
) -> Any:
    return answers_compare(
        "trips",
        method=method,
        monolith_status=statuses[0],
        monolith_body=json.dumps(monolith).encode(),
        service_status=statuses[1],
        service_content_type=content_type,
        service_body=service if isinstance(service, bytes) else json.dumps(service).encode(),
    )


def test_equal_answers_match_whatever_the_order_of_their_keys() -> None:
    assert compare(TRIP, dict(reversed(TRIP.items()))) is None
    assert compare({"results": [TRIP]}, {"results": [TRIP]}) is None


def test_a_changed_field_is_named_with_both_values_and_shown_in_a_diff() -> None:
    service = {"count": 1, "results": [{**TRIP, "status": "cancelled"}]}
    difference = compare({"count": 1, "results": [TRIP]}, service)

    assert difference.differing == ["results[0].status"]
    assert 'results[0].status: monolith "assigned", service "cancelled"' in difference.diff
    lines = difference.diff.splitlines()
    assert lines[0] == "status: monolith 200, service 200"
    assert '-      "status": "assigned"' in lines
    assert '+      "status": "cancelled"' in lines


def test_a_different_status_missing_fields_and_items_are_all_named() -> None:
    monolith = {"count": 2, "results": [TRIP, TRIP]}
    service = {"results": [{k: v for k, v in TRIP.items() if k != "fare"}]}
    difference = compare(monolith, service, statuses=(200, 206))

    assert difference.differing == ["(status)", "count", "results[0].fare", "results[]"]
    assert "count: monolith 2, service (absent)" in difference.diff
    assert "results (items): monolith 2, service 1" in difference.diff


def test_an_answer_that_is_not_json_is_a_mismatch_shown_as_text() -> None:
    difference = compare(
        TRIP, b"<h1>Server Error (500)</h1>", statuses=(200, 500), content_type="text/html"
    )
    assert difference.differing == ["(status)", "(body)"]
    assert "the service's answer is not JSON (text/html)" in difference.diff
    assert "+<h1>Server Error (500)</h1>" in difference.diff.splitlines()


def test_head_compares_the_status_alone() -> None:
    assert compare(TRIP, b"", method="HEAD", content_type="") is None
    assert compare(TRIP, b"", method="HEAD", statuses=(200, 404)).differing == ["(status)"]


@override_settings(COHORT_SHADOW_VOLATILE_FIELDS={"trips": ["served_at", "fare.quoted_at"]})
def test_volatile_fields_are_ignored_by_name_at_any_depth_or_by_path_from_the_top() -> None:
    changed = {**TRIP, "served_at": "later", "fare": {**TRIP["fare"], "quoted_at": "later"}}
    # A bare name matches at any depth; a dotted path from the top, list items transparent.
    assert compare(TRIP, changed) is None
    assert compare({"trip": TRIP}, {"trip": changed}).differing == ["trip.fare.quoted_at"]
    assert compare([TRIP], [changed]) is None
    # A volatile field present on one side only is not a difference either.
    assert compare(TRIP, {k: v for k, v in TRIP.items() if k != "served_at"}) is None
    # Everything else still counts.
    assert compare(TRIP, {**changed, "status": "x"}).differing == ["status"]


@override_settings(
    COHORT_SHADOW_VOLATILE_FIELDS={"*": ["*_at"], "trips": ["results.*.amount"], "users": ["id"]}
)
def test_volatile_fields_take_globs_and_every_modules_declarations() -> None:
    monolith = {"results": [{"fare": {"amount": "1.00"}, "id": "a", **TRIP}]}
    service = {"results": [{"fare": {"amount": "2.00"}, "id": "a", **TRIP, "quoted_at": "x"}]}
    assert compare(monolith, service) is None
    # Another module's declaration does not apply to trips.
    assert compare({"id": "a"}, {"id": "b"}).differing == ["id"]


def _runner(job: Callable[[Any], object], *, capacity: int) -> ShadowRunner:
    return ShadowRunner(workers=1, capacity=capacity, job=job)


def test_the_runner_drops_what_its_full_queue_cannot_hold_and_never_blocks() -> None:
    started, release = threading.Event(), threading.Event()
    done: list[str] = []

    def job(item: str) -> None:
        started.set()
        release.wait(10)
        done.append(item)

    runner = _runner(job, capacity=1)
    try:
        assert runner.submit("first")  # taken by the thread at once
        assert started.wait(10)
        assert runner.submit("second")  # waits in the queue
        assert not runner.submit("third")  # the queue is full: dropped
        assert not runner.drain(0.05)
        release.set()
        assert runner.drain(10)
        assert done == ["first", "second"]
    finally:
        release.set()
        runner.stop()


@pytest.mark.django_db(transaction=True)
def test_a_runner_thread_closes_the_database_connection_its_job_opened() -> None:
    seen: list[Any] = []
    runner = _runner(
        lambda item: seen.append(
            ShadowMismatch.objects.count() if item == "query" else connection.connection
        ),
        capacity=10,
    )
    try:
        runner.submit("query")
        runner.submit("look")  # the same thread, after the first job
        assert runner.drain(10)
    finally:
        runner.stop()
    assert seen == [0, None]


@pytest.mark.django_db
def test_the_status_shows_the_mismatch_rate_over_the_window() -> None:
    for _ in range(37):
        shadow_count("trips", ShadowFate.QUEUED)
    for _ in range(2):
        shadow_count("trips", ShadowFate.DROPPED)
    for outcome, times in (
        (ShadowOutcome.MATCH, 33),
        (ShadowOutcome.MISMATCH, 3),
        (ShadowOutcome.ERROR, 1),
    ):
        for _ in range(times):
            shadow_count("trips", outcome)
    shadow_count("billing", ShadowOutcome.MISMATCH)
    traffic_flush()

    status = cohort_status("trips")
    assert status.shadow is not None
    assert (status.shadow.queued, status.shadow.compared, status.shadow.errors) == (37, 36, 1)
    assert status.shadow_mismatch_rate == pytest.approx(3 / 36)
    assert status.shadow_text == "off, mismatches 8.3% (3 of 36 compared, 1 error, 2 dropped)"
    assert cohort_status("users").shadow_text == "off, mismatches —"


def _mismatch(**fields: Any) -> ShadowMismatch:
    defaults: dict[str, Any] = {
        "module": "trips",
        "method": "GET",
        "path": "/api/v1/trips/",
        "route": "api/v1/trips/",
        "monolith_status": 200,
        "service_status": 200,
        "differing": "results[0].status",
        "diff": '-      "status": "assigned"\n+      "status": "<cancelled>"',
        "request_id": "req-1",
    }
    return ShadowMismatch.objects.create(**{**defaults, **fields})


@pytest.mark.django_db
def test_prune_removes_mismatches_older_than_the_retention() -> None:
    now = timezone.now()
    old, week, fresh = (_mismatch(recorded_at=now - timedelta(days=days)) for days in (20, 8, 0))
    assert shadow_mismatches_prune(older_than_days=14) == 1
    assert shadow_mismatches_prune(older_than_days=7) == 1
    assert list(ShadowMismatch.objects.all()) == [fresh]
    assert not ShadowMismatch.objects.filter(pk__in=[old.pk, week.pk]).exists()


@pytest.mark.django_db
def test_the_admin_lists_mismatches_read_only_for_the_migration_team(
    mover: Any, make_user: Callable[..., Any]
) -> None:
    mismatch = _mismatch(account_id=make_user("rider-zoe", Role.RIDER).pk)
    _mismatch(module="billing", path="/api/v1/billing/invoices/", request_id="req-2")
    client = Client()
    client.force_login(mover)

    listing = client.get(
        reverse("admin:cohorts_shadowmismatch_changelist"), {"module__exact": "trips"}
    )
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "results[0].status" in page
    assert "rider-zoe" in page  # the account's name, not its id
    assert "/api/v1/billing/invoices/" not in page
    detail = client.get(reverse("admin:cohorts_shadowmismatch_change", args=[mismatch.pk]))
    assert detail.status_code == 200
    assert (
        '<pre class="shadow-diff">-      &quot;status&quot;: &quot;assigned&quot;\n'
        "+      &quot;status&quot;: &quot;&lt;cancelled&gt;&quot;</pre>"
    ) in detail.content.decode()
    assert b'name="_save"' not in detail.content
    assert client.get(reverse("admin:cohorts_shadowmismatch_add")).status_code == 403
    delete = reverse("admin:cohorts_shadowmismatch_delete", args=[mismatch.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert ShadowMismatch.objects.count() == 2
    assert b"mismatches</a>" in client.get(reverse("admin:cohorts_routingflag_changelist")).content


@pytest.mark.django_db
def test_other_staff_see_mismatches_only_with_the_view_permission(
    make_user: Callable[..., Any],
) -> None:
    staff = make_user("staff-sam", Role.FLEET_STAFF, is_staff=True)
    client = Client()
    client.force_login(staff)
    listing = reverse("admin:cohorts_shadowmismatch_changelist")
    assert client.get(listing).status_code == 403
    assert (
        b"mismatches</a>" not in client.get(reverse("admin:cohorts_routingflag_changelist")).content
    )

    staff.user_permissions.add(Permission.objects.get(codename="view_shadowmismatch"))
    client.force_login(type(staff).objects.get(pk=staff.pk))  # permissions are cached per user
    assert client.get(listing).status_code == 200


class _SameAnswer(http.server.BaseHTTPRequestHandler):
    """Answers every read as the monolith would: an empty page of trips."""

    protocol_version = "HTTP/1.1"
    methods: list[str] = []

    def do_GET(self) -> None:
        self.methods.append(self.command)
        body = json.dumps({"count": 0, "next": None, "previous": None, "results": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def trips_shadowed(route: Callable[..., Any]) -> Iterator[None]:
    """Trips routed here with shadow mode on, its service a local HTTP server."""
    _SameAnswer.methods = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SameAnswer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with override_settings(COHORT_ROUTED_MODULES=["trips"], FLEET_SERVICE_URLS={"trips": url}):
            route(shadow=True)
            yield
            assert shadow_drain(10)
    finally:
        server.shutdown()
        server.server_close()
        deployables_forget()


def _counted(what: str) -> float:
    name, label = (
        ("fleet_shadow_reads_total", "fate")
        if what in ShadowFate._value2member_map_
        else ("fleet_shadow_comparisons_total", "outcome")
    )
    return REGISTRY.get_sample_value(name, {"module": "trips", label: what}) or 0.0


@pytest.mark.django_db
@pytest.mark.usefixtures("trips_shadowed")
def test_reads_are_shadowed_as_sampled_and_writes_never(
    rider: Any, client_for: Callable[[Any], APIClient]
) -> None:
    client = client_for(rider)
    queued, matched = _counted("queued"), _counted("match")
    assert client.get("/api/v1/trips/").status_code == 200
    assert shadow_drain(10)
    assert (_counted("queued") - queued, _counted("match") - matched) == (1, 1)

    assert client.post("/api/v1/trips/", {}, format="json").status_code == 400
    with override_settings(COHORT_SHADOW_SAMPLE_PERCENT={"trips": 0}):
        assert client.get("/api/v1/trips/").status_code == 200
    assert shadow_drain(10)
    assert _counted("queued") - queued == 1
    assert _SameAnswer.methods == ["GET"]
