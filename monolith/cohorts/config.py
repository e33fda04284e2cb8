"""The routing settings, read once per process (and again whenever a test overrides one).

A decision runs on every request to a module's API; reading Django's lazy settings object
there costs more than the decision itself.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    routed_modules: frozenset[str]
    deployable_side: str
    refresh_seconds: float
    max_age_seconds: float
    traffic_flush_seconds: float
    # Shadow mode: the share of reads shadowed per module (100 when not named), the largest
    # answer compared, and the fields each module declares volatile ("*": every module's).
    shadow_sample_percent: Mapping[str, float]
    shadow_max_body_bytes: int
    shadow_volatile_fields: Mapping[str, tuple[str, ...]]


_config: RoutingConfig | None = None


def routing_config() -> RoutingConfig:
    global _config
    config = _config
    if config is None:
        config = _config = RoutingConfig(
            routed_modules=frozenset(settings.COHORT_ROUTED_MODULES),
            deployable_side=settings.COHORT_DEPLOYABLE_SIDE,
            refresh_seconds=settings.COHORT_ROUTING_REFRESH_MS / 1000,
            max_age_seconds=settings.COHORT_ROUTING_MAX_AGE_SECONDS,
            traffic_flush_seconds=settings.COHORT_TRAFFIC_FLUSH_SECONDS,
            shadow_sample_percent=dict(settings.COHORT_SHADOW_SAMPLE_PERCENT),
            shadow_max_body_bytes=settings.COHORT_SHADOW_MAX_BODY_BYTES,
            shadow_volatile_fields={
                module: tuple(paths)
                for module, paths in settings.COHORT_SHADOW_VOLATILE_FIELDS.items()
            },
        )
    return config


@receiver(setting_changed, dispatch_uid="cohorts-config-reset")
def _setting_changed(setting: str, **_: Any) -> None:
    global _config
    if setting.startswith("COHORT_"):
        _config = None
