"""The edge proxy: where each extracted module's service is, for the monolith to forward to.

Variables: ``FLEET_SERVICE_URL_<LABEL>`` (for example ``FLEET_SERVICE_URL_TRIPS``), the base URL
of the module's service. Unset, every request for the module is served here, whatever its
routing flag says. ``FLEET_EDGE_STREAM_THRESHOLD_BYTES``: answers larger than this (or of
unknown length) are streamed to the client instead of read whole. docs/extraction.md, "The edge
proxy".
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
