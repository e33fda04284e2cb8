"""``/internal/v1/<module>/<function>``: the api of the modules this deployable serves."""

from django.urls import path

from monolith.platform.interservice.endpoint import internal_call

urlpatterns = [
    path("<slug:module>/<slug:function>", internal_call, name="internal-call"),
]
