"""The test settings plus the order probe: for the worker process of the order test."""

from monolith.settings.test import *  # noqa: F403
from monolith.settings.test import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "monolith.platform.tests.order_probe"]
