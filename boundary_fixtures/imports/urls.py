"""The fixture project serves nothing; its modules exist to be checked."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
