"""The benchmark module serves no API; the project mounts every installed module's urls."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
