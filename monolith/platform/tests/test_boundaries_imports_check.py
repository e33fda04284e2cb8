"""The import check: each planted violation is caught at its file and line; clean code passes."""

import importlib
from pathlib import Path

import pytest
from django.conf import settings

from monolith.platform.boundaries.imports import (
    CYCLE,
    PRIVATE,
    UNDECLARED,
    UNKNOWN_DEPENDENCY,
    ImportGraphError,
    cross_module_imports,
    import_violations,
)
from monolith.platform.boundaries.violations import Violation
from monolith.platform.registry import FleetModuleConfig, fleet_modules

FIXTURE = "boundary_fixtures.imports.fleet"
FIXTURE_DIR = "boundary_fixtures/imports/fleet"
EVERY_FIXTURE_MODULE = (
    "depot",
    "garage",
    "courier",
    "dispatch",
    "charging",
    "scanner",
    "fares",
    "tolls",
    "meters",
    "parking",
    "ledger",
    "towing",
    "rental",
)


def fixture_modules(*names: str) -> list[FleetModuleConfig]:
    """The fixture modules' AppConfigs, built without installing them."""
    configs = []
    for name in names:
        apps_module = importlib.import_module(f"{FIXTURE}.{name}.apps")
        config_class = next(
            value
            for value in vars(apps_module).values()
            if isinstance(value, type)
            and issubclass(value, FleetModuleConfig)
            and value is not FleetModuleConfig
        )
        package = importlib.import_module(config_class.name)
        configs.append(config_class(config_class.name, package))
    return configs


def line_of(relative: str, text: str) -> int:
    """The number of the one line in ``relative`` (from the repo root) that contains ``text``."""
    lines = (Path(settings.BASE_DIR) / relative).read_text().splitlines()
    numbers = [number for number, line in enumerate(lines, start=1) if text in line]
    assert len(numbers) == 1, f"{text!r} should appear once in {relative}, found {numbers}"
    return numbers[0]


@pytest.fixture(scope="module")
def fixture_violations() -> list[Violation]:
    return import_violations(fixture_modules(*EVERY_FIXTURE_MODULE))


def located(violations: list[Violation], file: str) -> list[tuple[str, int, str]]:
    return [(v.file, v.line, v.rule) for v in violations if v.file == file]


def test_private_import_is_caught_at_its_line(fixture_violations: list[Violation]) -> None:
    file = f"{FIXTURE_DIR}/courier/services.py"
    line = line_of(file, "depot.models import Depot")
    assert located(fixture_violations, file) == [(file, line, PRIVATE)]


def test_undeclared_dependency_is_caught_at_its_line(fixture_violations: list[Violation]) -> None:
    file = f"{FIXTURE_DIR}/dispatch/services.py"
    line = line_of(file, "depot import api as depot_api")
    assert located(fixture_violations, file) == [(file, line, UNDECLARED)]


def test_lazy_import_inside_a_function_is_caught(fixture_violations: list[Violation]) -> None:
    file = f"{FIXTURE_DIR}/charging/services.py"
    line = line_of(file, "depot.services import depot_open")
    assert line > 1, "the planted import sits inside a function body"
    assert located(fixture_violations, file) == [(file, line, PRIVATE)]
    (violation,) = [v for v in fixture_violations if v.file == file]
    assert "inside a function" in violation.message


def test_test_file_importing_private_code_is_caught(fixture_violations: list[Violation]) -> None:
    file = f"{FIXTURE_DIR}/scanner/tests/test_scanner.py"
    line = line_of(file, "depot.models import Depot")
    assert located(fixture_violations, file) == [(file, line, PRIVATE)]
    # The module's own code goes through the front door and is not reported.
    assert located(fixture_violations, f"{FIXTURE_DIR}/scanner/services.py") == []


def test_declared_cycle_is_reported_at_depends_on(fixture_violations: list[Violation]) -> None:
    file = f"{FIXTURE_DIR}/fares/apps.py"
    line = line_of(file, "depends_on = ")
    assert located(fixture_violations, file) == [(file, line, CYCLE)]
    (violation,) = [v for v in fixture_violations if v.file == file]
    assert "imports_fares -> imports_tolls -> imports_fares" in violation.message
    # Both sides import each other's api, declared: the cycle is the only finding.
    assert located(fixture_violations, f"{FIXTURE_DIR}/fares/services.py") == []
    assert located(fixture_violations, f"{FIXTURE_DIR}/tolls/services.py") == []


def test_import_cycle_is_reported_at_the_undeclared_import(
    fixture_violations: list[Violation],
) -> None:
    file = f"{FIXTURE_DIR}/parking/services.py"
    line = line_of(file, "meters import api as meters_api")
    assert sorted(located(fixture_violations, file)) == [
        (file, line, CYCLE),
        (file, line, UNDECLARED),
    ]
    (cycle,) = [v for v in fixture_violations if v.file == file and v.rule == CYCLE]
    assert "imports_parking -> imports_meters -> imports_parking" in cycle.message
    assert located(fixture_violations, f"{FIXTURE_DIR}/meters/services.py") == []


def test_private_names_taken_through_a_public_module_are_caught(
    fixture_violations: list[Violation],
) -> None:
    """depot's api imports its model and services; ledger takes them from there."""
    file = f"{FIXTURE_DIR}/ledger/services.py"
    top = line_of(file, "depot.api import Depot, DepotSummary, depot_get")
    inner = line_of(file, "depot.api import services")
    assert located(fixture_violations, file) == [(file, top, PRIVATE), (file, inner, PRIVATE)]
    first, second = [v for v in fixture_violations if v.file == file]
    # Only the names outside depot.api's __all__ are named; DepotSummary and depot_get are public.
    assert f"imports Depot from {FIXTURE}.depot.api, not exported there" in first.message
    assert "DepotSummary" not in first.message
    assert "depot_get" not in first.message
    assert "inside a function, services from" in second.message
    assert "private to imports_depot" in second.message


def test_names_without_all_are_public_unless_private_modules_or_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An events.py without __all__: "_" names, modules and Django models are not public."""
    alpha, beta = project_on_path(
        tmp_path,
        {
            "namesfleet/__init__.py": "",
            "namesfleet/alpha/__init__.py": "",
            "namesfleet/alpha/services.py": "",
            "namesfleet/alpha/api.py": (
                "from namesfleet.alpha import services\n\n"
                "__all__ = ['open_alpha']\n\n\n"
                "def open_alpha() -> None:\n    services.__name__\n\n\n"
                "def helper() -> None:\n    pass\n"
            ),
            "namesfleet/alpha/events.py": (
                "from django.contrib.auth.models import Group\n\n"
                "from namesfleet.alpha import services\n\n"
                "_secret = 1\n\n\n"
                "class AlphaOpened:\n    group: Group | None = None\n"
            ),
            "namesfleet/beta/__init__.py": "",
            "namesfleet/beta/services.py": (
                "from namesfleet.alpha.api import helper, open_alpha\n"
                "from namesfleet.alpha.events import AlphaOpened, Group, _secret, services\n"
                "from namesfleet.alpha import api, events\n"
            ),
        },
        monkeypatch,
    )
    beta.depends_on = ("alpha",)
    violations = import_violations([alpha, beta])
    assert [(v.line, v.rule) for v in violations] == [(1, PRIVATE), (2, PRIVATE)]
    assert "imports helper from namesfleet.alpha.api" in violations[0].message
    assert "imports Group, _secret, services from namesfleet.alpha.events" in violations[1].message
    # Once exported, the same import passes.
    (tmp_path / "namesfleet/alpha/api.py").write_text(
        "__all__ = ['helper', 'open_alpha']\n\n\n"
        "def open_alpha() -> None:\n    pass\n\n\n"
        "def helper() -> None:\n    pass\n"
    )
    assert [v.line for v in import_violations([alpha, beta])] == [2]


def test_a_typo_in_depends_on_is_reported_at_the_declaration(
    fixture_violations: list[Violation],
) -> None:
    file = f"{FIXTURE_DIR}/rental/apps.py"
    line = line_of(file, "depends_on = ")
    assert located(fixture_violations, file) == [(file, line, UNKNOWN_DEPENDENCY)]
    (violation,) = [v for v in fixture_violations if v.file == file]
    assert "imports_rental declares depends_on 'imports_dept'" in violation.message
    assert "(known: imports_depot, imports_garage," in violation.message
    # The declared dependency it does use is judged as usual: rental's import of depot passes.
    assert located(fixture_violations, f"{FIXTURE_DIR}/rental/services.py") == []
    depot, dispatch = fixture_modules("depot", "dispatch")
    dispatch.depends_on = ("imports_depott",)
    assert sorted(v.rule for v in import_violations([depot, dispatch])) == [
        UNKNOWN_DEPENDENCY,
        UNDECLARED,
    ]


def test_a_dependency_of_a_dependency_must_still_be_declared(
    fixture_violations: list[Violation],
) -> None:
    """towing -> garage -> depot: the peel check would install depot with towing, so only this
    check can tell that towing calls depot without declaring it (billing -> trips -> vehicles)."""
    towing, garage = fixture_modules("towing", "garage")
    assert towing.depends_on == ("imports_garage",)
    assert garage.depends_on == ("imports_depot",)
    file = f"{FIXTURE_DIR}/towing/services.py"
    line = line_of(file, "depot import api as depot_api")
    assert located(fixture_violations, file) == [(file, line, UNDECLARED)]
    (violation,) = [v for v in fixture_violations if v.file == file]
    assert "imports_depot is not in imports_towing's depends_on" in violation.message


def test_clean_module_passes(fixture_violations: list[Violation]) -> None:
    """garage calls depot's api, subscribes to its events and tests through them: no finding."""
    assert [v for v in fixture_violations if v.file.startswith(f"{FIXTURE_DIR}/garage/")] == []
    assert [v for v in fixture_violations if v.file.startswith(f"{FIXTURE_DIR}/depot/")] == []
    assert import_violations(fixture_modules("depot", "garage")) == []
    # It does import depot, so a pass means the imports were judged, not missed.
    imports = cross_module_imports(fixture_modules("depot", "garage"))
    assert {(found.source, found.target, found.public) for found in imports} == {
        ("imports_garage", "imports_depot", True)
    }
    assert {found.file.rsplit("/", 1)[-1] for found in imports} == {
        "apps.py",
        "handlers.py",
        "services.py",
        "test_garage.py",
    }


def test_every_planted_violation_and_nothing_else(fixture_violations: list[Violation]) -> None:
    assert sorted((v.file.removeprefix(FIXTURE_DIR + "/"), v.rule) for v in fixture_violations) == [
        ("charging/services.py", PRIVATE),
        ("courier/services.py", PRIVATE),
        ("dispatch/services.py", UNDECLARED),
        ("fares/apps.py", CYCLE),
        ("ledger/services.py", PRIVATE),
        ("ledger/services.py", PRIVATE),
        ("parking/services.py", CYCLE),
        ("parking/services.py", UNDECLARED),
        ("rental/apps.py", UNKNOWN_DEPENDENCY),
        ("scanner/tests/test_scanner.py", PRIVATE),
        ("towing/services.py", UNDECLARED),
    ]


def test_every_message_names_both_sides_and_a_fix(fixture_violations: list[Violation]) -> None:
    for violation in fixture_violations:
        sides = {label for label in violation.message.split() if label.startswith("imports_")}
        assert len(sides) >= 2, violation
        assert violation.fix, violation
        line = str(violation)
        assert line.startswith(f"{violation.file}:{violation.line} {violation.rule} ")
        assert line.endswith(f"({violation.fix})")
    private = next(v for v in fixture_violations if v.rule == PRIVATE)
    assert f"{FIXTURE}.depot.api" in private.fix
    undeclared = next(v for v in fixture_violations if v.rule == UNDECLARED)
    assert "depends_on" in undeclared.fix


def test_declarations_drive_the_check() -> None:
    """Declaring the missing dependency turns dispatch's import-undeclared into nothing."""
    depot, dispatch = fixture_modules("depot", "dispatch")
    assert [v.rule for v in import_violations([depot, dispatch])] == [UNDECLARED]
    dispatch.depends_on = ("imports_depot",)
    assert import_violations([depot, dispatch]) == []


def test_public_surface_comes_from_the_declaration() -> None:
    """A module that makes its models public lets courier import them."""
    depot, courier = fixture_modules("depot", "courier")
    assert [v.rule for v in import_violations([depot, courier])] == [PRIVATE]
    depot.public_surface = ("api", "events", "models")
    assert import_violations([depot, courier]) == []


def test_the_four_real_modules_keep_their_boundaries() -> None:
    modules = fleet_modules()
    assert sorted(config.label for config in modules) == ["billing", "trips", "users", "vehicles"]
    assert import_violations() == []
    imports = cross_module_imports()
    edges = {(found.source, found.target) for found in imports}
    # The real modules do import each other, through declared, public doors.
    assert ("trips", "vehicles") in edges
    assert ("billing", "trips") in edges
    assert all(found.public and not found.private_names for found in imports)
    declared = {
        (config.label, dependency) for config in modules for dependency in config.depends_on
    }
    assert edges <= declared


def project_on_path(
    root: Path, files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> list[FleetModuleConfig]:
    """Write a throwaway project under ``root``; return its two modules, alpha and beta."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    package = next(iter(files)).split("/")[0]
    return [
        FleetModuleConfig(f"{package}.{name}", importlib.import_module(f"{package}.{name}"))
        for name in ("alpha", "beta")
    ]


def test_type_checking_imports_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modules = project_on_path(
        tmp_path,
        {
            "typecheckfleet/__init__.py": "",
            "typecheckfleet/alpha/__init__.py": "",
            "typecheckfleet/alpha/models.py": "class Thing:\n    pass\n",
            "typecheckfleet/beta/__init__.py": "",
            "typecheckfleet/beta/services.py": (
                "from typing import TYPE_CHECKING\n\n"
                "if TYPE_CHECKING:\n"
                "    from typecheckfleet.alpha.models import Thing\n"
            ),
        },
        monkeypatch,
    )
    (violation,) = import_violations(modules)
    assert (violation.line, violation.rule) == (4, PRIVATE)
    assert violation.file.endswith("typecheckfleet/beta/services.py")
    assert "inside a function" not in violation.message


def test_a_file_that_does_not_parse_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modules = project_on_path(
        tmp_path,
        {
            "brokenfleet/__init__.py": "",
            "brokenfleet/alpha/__init__.py": "",
            "brokenfleet/beta/__init__.py": "",
            "brokenfleet/beta/services.py": "def half(:\n",
        },
        monkeypatch,
    )
    with pytest.raises(ImportGraphError, match=r"brokenfleet/beta/services\.py:1 cannot be parsed"):
        import_violations(modules)
