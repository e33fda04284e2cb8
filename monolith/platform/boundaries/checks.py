"""The boundary rules as Django system checks: ``manage.py check``, start-up and CI run them.

Tagged ``boundaries`` (every boundary check) and ``boundaries_orm`` (these alone), so
``manage.py check --tag boundaries_orm`` runs just the ORM rules.
"""

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core import checks

from monolith.platform.boundaries.orm import orm_check_messages


@checks.register("boundaries", "boundaries_orm")
def boundaries_orm_check(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """ORM boundary violations the baseline does not allow, and its stale ORM entries."""
    return orm_check_messages(app_configs)
