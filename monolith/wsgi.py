"""WSGI entry point for gunicorn: ``gunicorn monolith.wsgi``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings.production")

application = get_wsgi_application()
