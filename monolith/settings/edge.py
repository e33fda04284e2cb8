"""The edge proxy: where each extracted module's service is, for the monolith to forward to.

Variables: ``FLEET_SERVICE_URL_<LABEL>`` (for example ``FLEET_SERVICE_URL_TRIPS``), the base URL
of the module's service. Unset, every request for the module is served here, whatever its
routing flag says. ``FLEET_EDGE_STREAM_THRESHOLD_BYTES``: answers larger than this (or of
unknown length) are streamed to the client instead of read whole.
``FLEET_EDGE_AUTH_CACHE_SECONDS``: how long a process may authenticate a DRF token it read
before without reading it again (0: never). docs/extraction.md, "The edge proxy".
"""

import os
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from monolith.settings.environment import env_int, env_str

_PREFIX = "FLEET_SERVICE_URL_"


def _service_urls() -> dict[str, str]:
    urls = {}
    for name in sorted(os.environ):
        if not name.startswith(_PREFIX):
            continue
        label = name.removeprefix(_PREFIX).lower()
        raw = env_str(name, "").strip()
        if not raw:
            continue
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ImproperlyConfigured(
                f"{name}={raw!r} is not a base URL: use http://host:port or https://host[/path]."
            )
        urls[label] = raw.rstrip("/")
    return urls


# Only a fleet module's API is ever forwarded: a variable naming anything else has no effect.
FLEET_SERVICE_URLS = _service_urls()
FLEET_EDGE_STREAM_THRESHOLD_BYTES = env_int("FLEET_EDGE_STREAM_THRESHOLD_BYTES", 256 * 1024)
# The longest a forwarded request may be authenticated from what this process read before: a
# revoked token is refused everywhere within COHORT_ROUTING_REFRESH_MS of the change (it is
# announced like a routing change), and within this at the latest when the change was made
# behind Django's signals or its announcement was lost. docs/cohort-routing.md.
FLEET_EDGE_AUTH_CACHE_SECONDS = env_int("FLEET_EDGE_AUTH_CACHE_SECONDS", 30)
if FLEET_EDGE_AUTH_CACHE_SECONDS < 0:
    raise ImproperlyConfigured(
        f"FLEET_EDGE_AUTH_CACHE_SECONDS={FLEET_EDGE_AUTH_CACHE_SECONDS} is negative: use 0 to "
        "turn the edge's credentials cache off."
    )
