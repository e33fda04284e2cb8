"""The edge proxy: REST requests for a cohort's module sent on to the module's service.

The front door is one middleware, ``EdgeProxyMiddleware`` (settings' ``MIDDLEWARE``, right
after ``CohortRoutingMiddleware``, whose decision it follows). For a request to
``/api/v1/<module>/...`` whose routing decision is ``service`` and whose module has a service
URL (``FLEET_SERVICE_URL_<LABEL>``), the request is forwarded (``forwarding``) and the
service's answer returned; while the service is down, reads are served here and writes
answered 503 with ``Retry-After`` (``middleware``). In shadow mode, a read served here is also
sent to the service off the request path and the answers compared (``shadow``).
docs/extraction.md, "The edge proxy"; docs/cohort-routing.md, "Shadow mode".
"""

from monolith.platform.edge.middleware import EdgeProxyMiddleware

__all__ = ["EdgeProxyMiddleware"]
