"""The admin's "Cohort routing": every module's status, and a page per module to route it.

Every staff member may look; only the migration team may change routing (the same service as
the ``cohort`` command, so the same checks and the same audit). The change history is
read-only. django-waffle's own flag admin is not registered for this flag model (waffle skips
a swapped model), so no other admin page can change a routing flag. Shadow mismatches are
read-only too, for the migration team and staff holding their view permission.
"""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from monolith.cohorts.forms import CohortRouteForm
from monolith.cohorts.models import RoutingChange, RoutingFlag, ShadowMismatch
from monolith.cohorts.selectors import cohort_status, cohort_statuses, stage_text
from monolith.cohorts.services import (
    RouteSettings,
    cohort_change,
    module_check,
    routing_may_change,
)
from monolith.platform.access import Role, user_roles
from monolith.platform.admin import AccountNamesAdmin, ReadOnlyAdminMixin, account_username
from monolith.platform.errors import FleetError, NotFound


def _staff(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_staff)


def _may_view_mismatches(request: HttpRequest) -> bool:
    user = request.user
    return _staff(request) and (
        user.has_perm("cohorts.view_shadowmismatch")
        or Role.MIGRATION_TEAM.value in user_roles(user)
    )


@admin.register(RoutingFlag)
class CohortRoutingAdmin(admin.ModelAdmin):
    """Not a list of flag rows: one line per fleet module, flag or not."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _staff(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _staff(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _staff(request) and routing_may_change(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        route = path(
            "<str:module>/route/",
            self.admin_site.admin_view(self.route_view),
            name="cohorts_routingflag_route",
        )
        return [route, *super().get_urls()]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Cohort routing",
            "opts": self.model._meta,
            "statuses": cohort_statuses(),
            "may_change": self.has_change_permission(request),
            "may_view_mismatches": _may_view_mismatches(request),
        }
        return TemplateResponse(request, "admin/cohorts/status.html", context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        flag = RoutingFlag.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        if flag is None or not flag.name.startswith("route."):
            raise Http404("No such routing flag.")
        module = flag.name.removeprefix("route.")
        return HttpResponseRedirect(reverse("admin:cohorts_routingflag_route", args=[module]))

    def route_view(self, request: HttpRequest, module: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            module_check(module)
        except NotFound as error:
            raise Http404(error.message) from None
        may_change = self.has_change_permission(request)
        status = cohort_status(module)
        if request.method == "POST":
            if not may_change:
                raise PermissionDenied
            form = CohortRouteForm(request.POST)
            if form.is_valid():
                try:
                    record = cohort_change(
                        module=module,
                        change=form.change(),
                        by=request.user,
                        reason=form.cleaned_data["reason"],
                    )
                except FleetError as error:
                    form.add_error(
                        error.field if error.field in form.fields else None, error.message
                    )
                else:
                    if record is None:
                        messages.info(request, f"{module}: nothing to change; nothing recorded.")
                    else:
                        after = RouteSettings.from_record(record.after)
                        messages.success(request, f"{module}: {stage_text(after)} (recorded).")
                    return HttpResponseRedirect(reverse("admin:cohorts_routingflag_changelist"))
        else:
            form = CohortRouteForm(initial=CohortRouteForm.initial_of(status.route))
        if not may_change:
            for field in form.fields.values():
                field.disabled = True
        context = {
            **self.admin_site.each_context(request),
            "title": f"Cohort routing: {module}",
            "opts": self.model._meta,
            "status": status,
            "form": form,
            "may_change": may_change,
            "may_view_mismatches": _may_view_mismatches(request),
            "changes": RoutingChange.objects.filter(module=module)[:20],
        }
        return TemplateResponse(request, "admin/cohorts/route.html", context)


@admin.register(RoutingChange)
class RoutingChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every routing change: who, when, before and after, why. Never edited."""

    list_display = ("changed_at", "module", "changed_by_username", "before", "after", "reason")
    list_filter = ("module", "changed_at")
    search_fields = ("module", "changed_by_username", "reason")
    readonly_fields = list_display

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _staff(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _staff(request)


@admin.register(ShadowMismatch)
class ShadowMismatchAdmin(ReadOnlyAdminMixin, AccountNamesAdmin):
    """Reads whose answer from the service differed from the monolith's in shadow mode: what
    was read, for whom, and how the answers differ. Never edited; pruned by age."""

    account_fields = ("account_id",)
    list_display = (
        "recorded_at",
        "module",
        "method",
        "path",
        "statuses",
        "differing",
        "account",
        "request_id",
    )
    list_filter = ("module", "route", "method", "recorded_at")
    search_fields = ("path", "differing", "request_id")
    fields = (
        "recorded_at",
        "module",
        "method",
        "path",
        "route",
        "account",
        "statuses",
        "request_id",
        "differing",
        "difference",
    )
    readonly_fields = fields

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _may_view_mismatches(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_view_mismatches(request)

    @admin.display(description="monolith / service")
    def statuses(self, mismatch: ShadowMismatch) -> str:
        return f"{mismatch.monolith_status} / {mismatch.service_status}"

    @admin.display(description="account")
    def account(self, mismatch: ShadowMismatch) -> str:
        return account_username(mismatch, "account_id")

    @admin.display(description="difference")
    def difference(self, mismatch: ShadowMismatch) -> SafeString:
        return format_html('<pre class="shadow-diff">{}</pre>', mismatch.diff)
