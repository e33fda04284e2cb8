"""One REST request sent on to a module's service, and its answer turned into Django's.

The request goes once (never retried: the interservice pool for the base URL has retries off),
with its method, path, query, body and headers, except the hop-by-hop ones and the caller's
own credentials (``Authorization``, ``Cookie``): the identity the edge authenticated travels as
a signed internal token for the module (the account and its roles), with the request id and
``X-Forwarded-For``. A request body is read from the client as it is sent on, never held whole;
an answer larger than ``FLEET_EDGE_STREAM_THRESHOLD_BYTES`` (or of unknown length) is streamed.
Shadow mode's reads take the same way, pool and breaker (``service_read``), with the same
headers, and are read whole.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import urllib3
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.http.request import HttpHeaders

from monolith.platform.interservice.breaker import CircuitOpen
from monolith.platform.interservice.client import Deployable, deployable_for
from monolith.platform.interservice.tokens import TOKEN_HEADER, internal_token_issue
from monolith.platform.observability import REQUEST_ID_HEADER, request_id_var

# RFC 9110 7.6.1, plus what the edge replaces (credentials, the internal token). The Host is
# kept: links the service builds (a booking's URL) name the host the client called.
_NOT_FORWARDED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "authorization",
        "cookie",
        TOKEN_HEADER.lower(),
        REQUEST_ID_HEADER.lower(),
        "x-forwarded-for",
    }
)
# Answer headers the edge's own server sets (or must not pass on: a service has no session).
_NOT_RETURNED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "date",
        "server",
        "set-cookie",
    }
)
# Statuses a gateway or a stopped pod answers with: the request may not have reached the module.
UNREACHED = frozenset({502, 503, 504})
_CHUNK = 64 * 1024


class ServiceUnreached(Exception):
    """The service did not answer. ``sent``: the request may have reached it (an answer lost
    after sending), as opposed to certainly not (refused, breaker open)."""

    def __init__(self, why: str, *, retry_after: int, sent: bool) -> None:
        super().__init__(why)
        self.why = why
        self.retry_after = retry_after
        self.sent = sent


@dataclass(frozen=True, slots=True)
class Caller:
    """Who the edge authenticated: what the service's ``InternalTokenAuthentication`` reads."""

    account_id: UUID | None
    roles: frozenset[str]


def forwarded_headers(meta: Mapping[str, Any], scheme: str) -> dict[str, str]:
    """The client's request headers (from its WSGI ``META``) as the service gets them, before
    the identity is added: without hop-by-hop headers and credentials, with ``X-Forwarded-*``."""
    incoming = HttpHeaders(meta)
    headers = {
        name: value for name, value in incoming.items() if name.lower() not in _NOT_FORWARDED
    }
    if not meta.get("CONTENT_LENGTH"):
        headers.pop("Content-Length", None)
    client = meta.get("REMOTE_ADDR", "")
    earlier = incoming.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{earlier}, {client}" if earlier else client
    headers.setdefault("X-Forwarded-Proto", scheme or "http")
    return headers


def identity_headers(module: str, caller: Caller, request_id: str | None) -> dict[str, str]:
    """The request id, and the signed internal token naming the caller (none if anonymous)."""
    headers = {}
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    if caller.account_id is not None:
        headers[TOKEN_HEADER] = internal_token_issue(
            audience=module,
            account_id=caller.account_id,
            roles=sorted(caller.roles),
            request_id=request_id,
        )
    return headers


def _body(request: HttpRequest) -> HttpRequest | bytes | None:
    if hasattr(request, "_body"):
        return request.body  # already read here (a form parsed for a CSRF check)
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    # The request reads its WSGI input lazily, within Content-Length: sent on as it arrives.
    return request if length else None


def service_open(
    base_url: str,
    method: str,
    full_path: str,
    *,
    body: HttpRequest | bytes | None,
    headers: dict[str, str],
    read: bool,
) -> urllib3.BaseHTTPResponse:
    """Send one request to the service at ``base_url``, once, through its pool and breaker;
    its answer, body unread. Raises ``ServiceUnreached`` when there is none.

    For a ``read``, a gateway's 502/503/504 counts as no answer too (the edge can serve it);
    a write gets it as it came, ``Retry-After`` included, rather than be sent twice.
    """
    deployable = deployable_for(base_url)
    try:
        deployable.breaker.before_call()
    except CircuitOpen as open_circuit:
        raise ServiceUnreached(
            "its circuit breaker is open after repeated failures",
            retry_after=open_circuit.retry_after,
            sent=False,
        ) from None
    try:
        upstream = deployable.pool.urlopen(
            method,
            deployable.path_prefix + full_path,
            body=body,
            headers=headers,
            retries=False,
            redirect=False,
            preload_content=False,
            release_conn=False,
            chunked=False,
        )
    except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
        _failed(deployable)
        raise ServiceUnreached(
            f"{type(exc).__name__}", retry_after=deployable.breaker.retry_after(), sent=False
        ) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        _failed(deployable)
        raise ServiceUnreached(
            f"{type(exc).__name__}: no answer once sent",
            retry_after=deployable.breaker.retry_after(),
            sent=True,
        ) from None
    except BaseException:
        _failed(deployable)
        raise
    if upstream.status in UNREACHED:
        _failed(deployable)
        if read:
            upstream.drain_conn()
            upstream.release_conn()
            raise ServiceUnreached(
                f"HTTP {upstream.status}", retry_after=deployable.breaker.retry_after(), sent=True
            )
    else:
        deployable.breaker.record_success()
    return upstream


def _broke_off(base_url: str, exc: Exception) -> ServiceUnreached:
    """The answer broke off while it was read."""
    deployable = deployable_for(base_url)
    _failed(deployable)
    return ServiceUnreached(
        f"{type(exc).__name__}: the answer broke off",
        retry_after=deployable.breaker.retry_after(),
        sent=True,
    )


def service_forward(
    request: HttpRequest, module: str, base_url: str, caller: Caller, *, read: bool
) -> HttpResponseBase:
    """The service's answer to ``request``, as Django's; raises ``ServiceUnreached`` when there
    is none (``service_open``)."""
    upstream = service_open(
        base_url,
        request.method or "GET",
        request.get_full_path(),
        body=_body(request),
        headers={
            **forwarded_headers(request.META, request.scheme or "http"),
            **identity_headers(module, caller, request_id_var.get()),
        },
        read=read,
    )
    try:
        return _response(upstream)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise _broke_off(base_url, exc) from None


@dataclass(frozen=True, slots=True)
class ServiceAnswer:
    """A service's whole answer to a read; ``body`` None when it was larger than asked for."""

    status: int
    content_type: str
    body: bytes | None


def service_read(
    base_url: str, method: str, full_path: str, headers: dict[str, str], *, limit: int
) -> ServiceAnswer:
    """The service's answer to a read made away from any client's request (shadow mode), read
    whole up to ``limit`` bytes; raises ``ServiceUnreached`` when there is none."""
    upstream = service_open(base_url, method, full_path, body=None, headers=headers, read=True)
    try:
        length = upstream.headers.get("Content-Length")
        if length is not None and int(length) > limit:
            body = None
        else:
            body = upstream.read(limit + 1)
            if len(body) > limit:
                body = None
        if body is None:
            upstream.drain_conn()
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise _broke_off(base_url, exc) from None
    finally:
        upstream.release_conn()
    return ServiceAnswer(upstream.status, upstream.headers.get("Content-Type", ""), body)


def _failed(deployable: Deployable) -> None:
    deployable.breaker.record_failure()


def _response(upstream: urllib3.BaseHTTPResponse) -> HttpResponseBase:
    length = upstream.headers.get("Content-Length")
    response: HttpResponse | StreamingHttpResponse
    if length is not None and int(length) <= settings.FLEET_EDGE_STREAM_THRESHOLD_BYTES:
        try:
            content = upstream.read()
        finally:
            upstream.release_conn()
        response = HttpResponse(content, status=upstream.status)
    else:
        response = StreamingHttpResponse(_stream(upstream), status=upstream.status)
    for name, value in upstream.headers.items():
        if name.lower() not in _NOT_RETURNED:
            response[name] = value
    return response


def _stream(upstream: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    # Closed by Django when the client has it all, or went away: the connection goes back.
    try:
        yield from upstream.stream(_CHUNK)
    finally:
        upstream.release_conn()
