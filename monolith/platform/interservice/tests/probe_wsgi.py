"""The monolith as deployed, plus the routing probe under billing's API (``probe_urls``)."""

from django.conf import settings

from monolith.wsgi import application

# Before the first request, so the resolver is built from the probe's URLs.
settings.ROOT_URLCONF = "monolith.platform.interservice.tests.probe_urls"

__all__ = ["application"]
