"""Local development: DEBUG on unless the environment says otherwise."""

from monolith.settings.base import *  # noqa: F403
from monolith.settings.environment import env_bool

DEBUG = env_bool("DEBUG", True)
