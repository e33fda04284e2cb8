"""Calls between deployables: a module's ``api.py`` over HTTP, signed, pooled and guarded.

The front door, for the rest of the platform (the edge proxy, settings, tests):

- ``api_read``: the one declaration a module makes, on its api functions that only read.
  ``is_read(module, function)`` answers for any of them (the edge falls back on reads).
- ``internal_token_issue`` / ``internal_token_verify``: short-lived HMAC tokens carrying the
  issuer, the audience module, the acting account and the request id (``tokens``); the
  previous secret is accepted during a rotation.
- ``acting_as(account_id)``: whom the code acts for, outside a request (``acting``).
- ``remote_call``: the pooled HTTP client with timeouts, read-only retries and a circuit
  breaker per base URL (``client``); ``ModuleUnavailable`` is its 503.
- ``remote_api_install``: a module served elsewhere, its ``api.py`` functions replaced by
  remote stubs that rebuild the same dataclasses and errors (``facade``).
- ``routed_apis_install``: in the monolith, a module with a service has its ``api.py``
  functions routed per call, by cohort routing's decision for the request or the acting
  account (``routed``).
- The receiving side: ``/internal/v1/<module>/<function>`` (``endpoint``, ``urls``) and, for
  REST requests the edge forwards, ``InternalTokenAuthentication``.

Decision record 0010; docs/extraction.md, "Calls between deployables".
"""

from monolith.platform.interservice.reads import api_read, is_read

__all__ = ["api_read", "is_read"]
