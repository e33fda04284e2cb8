"""``python manage.py strangler extract``: the committed services are what it writes, a rerun
changes nothing, and bad input is one line."""

import importlib
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from monolith.platform.extraction.spec import service_spec
from monolith.platform.extraction.tree import base_strays, service_tree

ROOT = Path(settings.BASE_DIR)
COMMITTED = ("trips", "billing")


def fixture_apps() -> list[str]:
    """The boundary fixture's modules, some of which break the rules, in place of the fleet."""
    fixture = importlib.import_module("boundary_fixtures.imports.settings")
    return [
        app for app in settings.INSTALLED_APPS if app not in settings.FLEET_MODULES
    ] + fixture.FIXTURE_MODULES


def extract(*args: str) -> str:
    out = StringIO()
    call_command("strangler", "extract", *args, stdout=out, no_color=True)
    return out.getvalue()


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("label", COMMITTED)
def test_committed_service_is_what_the_command_generates(label: str) -> None:
    """Change the generator, then run `python manage.py strangler extract <module>`."""
    spec = service_spec(label)
    tree = service_tree(spec)
    for path, text in tree.items():
        assert (ROOT / path).read_text() == text, (
            f"{path} is stale: run python manage.py strangler extract {label}"
        )
    assert base_strays(ROOT, spec, tree) == []
    generated = {path for path in tree if path.parts[1] == label}
    on_disk = {
        path.relative_to(ROOT)
        for path in (ROOT / spec.directory).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert {Path(path) for path in generated} == on_disk


def test_extract_writes_the_service_then_a_rerun_writes_nothing(tmp_path: Path) -> None:
    first = extract("trips", "--root", str(tmp_path))
    tree = service_tree(service_spec("trips"))
    assert first.splitlines()[-1] == (
        f"Extracted trips into {tmp_path}/extracted/trips: {len(tree)} of {len(tree)} files "
        "written, the others unchanged."
    )
    snapshot = {path: (tmp_path / path).stat().st_mtime_ns for path in tree}
    second = extract("trips", "--root", str(tmp_path))
    assert second == f"{tmp_path}/extracted/trips is up to date ({len(tree)} files unchanged).\n"
    assert {path: (tmp_path / path).stat().st_mtime_ns for path in tree} == snapshot
    assert extract("trips", "--root", str(tmp_path), "--check").startswith(
        f"{tmp_path}/extracted/trips is up to date."
    )


def test_a_hand_edit_is_named_and_overwritten_and_overlays_are_left_alone(tmp_path: Path) -> None:
    extract("trips", "--root", str(tmp_path))
    base = tmp_path / "extracted/trips/k8s/base"
    deployment = base / "deployment.yaml"
    generated = deployment.read_text()
    deployment.write_text(generated.replace("replicas: 2", "replicas: 5"))
    overlay = tmp_path / "extracted/trips/k8s/overlays/production/kustomization.yaml"
    overlay.parent.mkdir(parents=True)
    overlay.write_text("resources: [../../base]\n")

    with pytest.raises(CommandError, match=r"deployment\.yaml \(differs\)"):
        extract("trips", "--root", str(tmp_path), "--check")
    out = extract("trips", "--root", str(tmp_path))
    assert out.splitlines() == [
        "  rewrote   extracted/trips/k8s/base/deployment.yaml (it differed from what extract "
        "writes; keep changes in an overlay or in the generator)",
        f"Extracted trips into {tmp_path}/extracted/trips: 1 of "
        f"{len(service_tree(service_spec('trips')))} files written, the others unchanged.",
    ]
    assert deployment.read_text() == generated
    assert overlay.read_text() == "resources: [../../base]\n"


def test_a_file_added_to_the_base_is_reported_and_fails_the_check(tmp_path: Path) -> None:
    extract("billing", "--root", str(tmp_path))
    stray = tmp_path / "extracted/billing/k8s/base/secret.yaml"
    stray.write_text("kind: Secret\n")
    out = extract("billing", "--root", str(tmp_path))
    assert "  left      extracted/billing/k8s/base/secret.yaml: not generated" in out
    assert stray.exists()
    with pytest.raises(CommandError, match=r"secret\.yaml \(not generated\)"):
        extract("billing", "--root", str(tmp_path), "--check")


def test_an_unknown_module_is_one_line_and_exit_one() -> None:
    done = manage("strangler", "extract", "nosuch")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "CommandError: unknown module 'nosuch': choose one of vehicles, users, trips, billing"
    ]
    assert done.stdout == ""


def test_bad_arguments_are_one_line_each() -> None:
    done = manage("strangler", "extract")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "strangler: the following arguments are required: module "
        "(see: python manage.py strangler --help)"
    ]
    done = manage("strangler", "peel", "trips")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "CommandError: unknown action 'peel': choose one of extract, backfill"
    ]


def test_a_module_that_breaks_a_boundary_is_refused_naming_the_first_violation(
    tmp_path: Path,
) -> None:
    with override_settings(INSTALLED_APPS=fixture_apps()), pytest.raises(CommandError) as refused:
        extract("imports_courier", "--root", str(tmp_path))
    message = str(refused.value)
    assert message.startswith(
        "imports_courier cannot be extracted while it breaks a module boundary: "
        "boundary_fixtures/imports/fleet/courier/services.py:"
    )
    assert "import-private" in message
    assert message.endswith("; see python manage.py modules check")
    assert "\n" not in message
    assert not (tmp_path / "extracted").exists()


def test_a_refused_module_is_one_line_on_the_command_line(tmp_path: Path) -> None:
    done = manage(
        "strangler",
        "extract",
        "imports_courier",
        "--root",
        str(tmp_path),
        "--settings=boundary_fixtures.imports.settings",
        BOUNDARIES_BASELINE=str(tmp_path / "todo.json"),
    )
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith(
        "CommandError: imports_courier cannot be extracted while it breaks a module"
    )
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "extracted").exists()
