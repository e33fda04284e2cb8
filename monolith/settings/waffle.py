"""django-waffle: installed now; per-module routing flags arrive with extraction."""

WAFFLE_CREATE_MISSING_FLAGS = False
WAFFLE_FLAG_DEFAULT = False
