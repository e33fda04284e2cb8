"""``/internal/v1/<module>/<function>``: the api of the modules this deployable serves."""

from django.urls import path

from monolith.platform.interservice.endpoint import internal_call, internal_feed

urlpatterns = [
    # Before the api's pattern, which "feed/<module>" would match too.
    path("feed/<slug:module>", internal_feed, name="internal-feed"),
    path("<slug:module>/<slug:function>", internal_call, name="internal-call"),
]
