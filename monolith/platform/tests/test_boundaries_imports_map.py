"""The module map comes from the declarations and the code; the committed one is current."""

import importlib
from io import StringIO
from pathlib import Path
from xml.etree import ElementTree

from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from monolith.platform.boundaries import module_map

ROOT = Path(settings.BASE_DIR)
SVG = "{http://www.w3.org/2000/svg}"


def test_committed_module_map_is_what_the_command_generates() -> None:
    """Edit the code, then run `python manage.py modules graph`; never edit the map by hand."""
    cards = module_map.module_cards()
    assert (ROOT / "docs" / "module-map.md").read_text() == module_map.markdown(cards), (
        "docs/module-map.md is stale: run python manage.py modules graph"
    )
    assert (ROOT / "docs" / "module-map.svg").read_text() == module_map.svg(cards), (
        "docs/module-map.svg is stale: run python manage.py modules graph"
    )


def test_graph_writes_both_files(tmp_path: Path) -> None:
    out = StringIO()
    call_command("modules", "graph", "--docs", str(tmp_path), stdout=out)
    assert out.getvalue().strip().endswith("(4 modules).")
    cards = module_map.module_cards()
    assert (tmp_path / "module-map.md").read_text() == module_map.markdown(cards)
    assert (tmp_path / "module-map.svg").read_text() == module_map.svg(cards)


def test_mermaid_has_declared_dependencies_and_event_edges() -> None:
    text = module_map.mermaid(module_map.module_cards())
    lines = text.splitlines()
    assert lines[0] == "graph TD"
    assert '    trips -->|"api, events"| vehicles' in lines
    assert '    trips -->|"api"| users' in lines
    assert '    billing -->|"api, events"| trips' in lines
    assert '    billing -->|"api"| users' in lines
    assert (
        '    trips -.->|"TripCancelled v1<br/>TripCompleted v1<br/>TripInterrupted v1"| billing'
        in lines
    )
    assert '    vehicles -.->|"VehicleWentOffline v1"| trips' in lines
    # A module handling its own events: billing's payment steps.
    assert any(line.startswith('    billing -.->|"InvoiceIssued v1<br/>') for line in lines)
    dependency_edges = [line for line in lines if "-->" in line]
    declared = sum(len(card.depends_on) for card in module_map.module_cards())
    assert len(dependency_edges) == declared


def test_an_unused_declaration_says_so() -> None:
    card = next(card for card in module_map.module_cards() if card.label == "trips")
    unused = module_map.ModuleCard(
        **{**card.__dict__, "depends_on": ("vehicles", "users", "billing"), "uses": card.uses}
    )
    assert '    trips -->|"declared, unused"| billing' in module_map.mermaid([unused]).splitlines()


def test_svg_is_well_formed_deterministic_and_layered() -> None:
    cards = module_map.module_cards()
    drawn = module_map.svg(cards)
    assert drawn == module_map.svg(module_map.module_cards())
    root = ElementTree.fromstring(drawn)  # noqa: S314 (our own output)
    assert root.tag == f"{SVG}svg"
    boxes = {}
    for group in root.iter(f"{SVG}g"):
        rect = group.find(f"{SVG}rect")
        title = group.find(f"{SVG}text")
        if rect is not None and title is not None:
            boxes[title.text] = (
                int(rect.get("x", "0")),
                int(rect.get("y", "0")),
                int(rect.get("width", "0")),
                int(rect.get("height", "0")),
            )
    assert set(boxes) == {"vehicles", "users", "trips", "billing"}
    # Dependencies sit below their dependents.
    assert boxes["billing"][1] < boxes["trips"][1] < boxes["vehicles"][1] == boxes["users"][1]
    for name, (x, y, width, height) in boxes.items():
        for other, (ox, oy, owidth, oheight) in boxes.items():
            if name != other:
                apart = x + width <= ox or ox + owidth <= x or y + height <= oy or oy + oheight <= y
                assert apart, f"{name} overlaps {other}"
    declared = sum(len(card.depends_on) for card in cards)
    assert len(root.findall(f"{SVG}polyline")) == declared
    publishers_to_subscribers = {
        (event.publisher, subscriber)
        for card in cards
        for event in card.publishes
        for subscriber in event.subscribers
    }
    assert ("trips", "billing") in publishers_to_subscribers
    dashed = [p for p in root.findall(f"{SVG}path") if p.get("stroke-dasharray")]
    assert len(dashed) == len(publishers_to_subscribers)
    labels = {text.text for text in root.iter(f"{SVG}text")}
    assert {
        "api",
        "api, events",
        "TripCancelled v1, TripCompleted v1, TripInterrupted v1",
    } <= labels
    # Events billing handles itself loop off its box, one name a line.
    assert {"InvoiceIssued v1", "InvoicePaid v1", "InvoicePaymentFailed v1"} <= labels


def test_fixture_map_shows_a_cycle_without_failing() -> None:
    fixture = importlib.import_module("boundary_fixtures.imports.settings")
    real = set(settings.FLEET_MODULES)
    installed = [app for app in settings.INSTALLED_APPS if app not in real]
    with override_settings(INSTALLED_APPS=installed + fixture.FIXTURE_MODULES):
        cards = module_map.module_cards()
        text = module_map.mermaid(cards)
        drawn = module_map.svg(cards)
    assert '    imports_fares -->|"api"| imports_tolls' in text
    assert '    imports_tolls -->|"api"| imports_fares' in text
    assert '    imports_depot -.->|"DepotOpened v1"| imports_garage' in text
    root = ElementTree.fromstring(drawn)  # noqa: S314 (our own output)
    titles = {text.text for group in root.iter(f"{SVG}g") for text in group.findall(f"{SVG}text")}
    assert {"imports_depot", "imports_garage", "imports_fares", "imports_tolls"} <= titles
