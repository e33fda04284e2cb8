from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.test import Client


@pytest.mark.django_db
def test_openapi_schema_validates_without_warnings(tmp_path: Path) -> None:
    target = tmp_path / "openapi.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for module in ("vehicles", "users", "trips", "billing"):
        assert any(path.startswith(f"/api/v1/{module}/") for path in paths), module


@pytest.mark.django_db
def test_swagger_ui_and_schema_are_served(client: Client) -> None:
    assert client.get("/api/docs/").status_code == 200
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi" in schema.content
