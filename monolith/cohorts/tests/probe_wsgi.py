"""The fleet application plus a probe of its routing, for the propagation test.

``GET /cohort-probe?module=trips&account=<uuid>`` answers which side this process would route
the account to right now, from its own snapshot, with its pid. Everything else is the
application as deployed.
"""

import json
import os
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs
from uuid import UUID

from monolith.wsgi import application as fleet_application

from monolith.cohorts.routing import route_for_account  # isort: skip (after Django's setup)


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("PATH_INFO") != "/cohort-probe":
        return fleet_application(environ, start_response)
    query = parse_qs(environ.get("QUERY_STRING", ""))
    decision = route_for_account(query["module"][0], UUID(query["account"][0]))
    body = json.dumps({"pid": os.getpid(), "side": decision.side.value}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
