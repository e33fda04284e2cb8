"""django-waffle: its flag model is cohort routing's `RoutingFlag` (monolith/settings/cohorts.py).

A flag that does not exist is off, and asking for one never creates it: only `manage.py cohort`
and the cohort admin create and change routing flags, audited.
"""

WAFFLE_CREATE_MISSING_FLAGS = False
WAFFLE_FLAG_DEFAULT = False
