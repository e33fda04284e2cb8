"""The admin's form for a module's routing: the whole target at once, and why."""

import re
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.models import Group

from monolith.cohorts.services import CohortChange, RouteSettings

TARGETS = (
    ("nobody", "Nobody: the monolith serves everyone (any cohort below is kept, inactive)"),
    ("cohort", "A cohort: the users, the groups' members and the percentage below"),
    ("everyone", "Everyone: the service serves everyone (extracted)"),
)
_EVERYONE = {"nobody": False, "cohort": None, "everyone": True}


class CohortRouteForm(forms.Form):
    target = forms.ChoiceField(choices=TARGETS, widget=forms.RadioSelect)
    percent = forms.DecimalField(
        required=False,
        min_value=Decimal(0),
        max_value=Decimal(100),
        decimal_places=2,
        help_text="A sticky share of all accounts, 0 to 100: widening keeps everyone already in.",
    )
    users = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Usernames, separated by commas, spaces or new lines.",
    )
    groups = forms.ModelMultipleChoiceField(
        queryset=Group.objects.order_by("name"),
        to_field_name="name",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    shadow = forms.BooleanField(
        required=False,
        help_text="The monolith serves; reads are also sent to the service and compared.",
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), help_text="Recorded with the change."
    )

    @classmethod
    def initial_of(cls, route: RouteSettings) -> dict[str, Any]:
        target = {False: "nobody", None: "cohort", True: "everyone"}[route.everyone]
        return {
            "target": target,
            "percent": route.percent,
            "users": ", ".join(sorted(route.usernames)),
            "groups": sorted(route.groups),
            "shadow": route.shadow,
        }

    def change(self) -> CohortChange:
        data = self.cleaned_data
        return CohortChange(
            everyone=_EVERYONE[data["target"]],
            percent=data["percent"],
            usernames=frozenset(name for name in re.split(r"[\s,]+", data["users"]) if name),
            groups=frozenset(group.name for group in data["groups"]),
            shadow=data["shadow"],
        )
