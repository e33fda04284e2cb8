"""drf-spectacular: the OpenAPI 3 description served at /api/schema/."""

SPECTACULAR_SETTINGS = {
    "TITLE": "Fleet platform API",
    "DESCRIPTION": (
        "Autonomous-vehicle fleet platform: vehicles, trips, users and billing. "
        "Authenticate API clients with `Authorization: Token <key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1/",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
}
