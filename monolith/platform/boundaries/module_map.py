"""The module map: what each module declares and does, drawn from the declarations and the code.

``module_cards()`` reads the registry (dependencies, tables), each module's ``api.py`` (its
public functions) and ``events.py`` (the events it publishes), the event subscriptions (who
consumes what) and the import graph (which public parts a dependency is actually used
through). ``python manage.py modules`` prints the cards; ``modules graph`` renders them as
Mermaid (``docs/module-map.md``) and as an SVG drawn here with a small layered layout, so the
picture comes from the same model as the checks and cannot drift from the code.
"""

import importlib
import inspect
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from xml.sax.saxutils import escape

from monolith.platform.boundaries.imports import CrossImport, cross_module_imports
from monolith.platform.events import DomainEvent, subscribers_of
from monolith.platform.registry import FleetModuleConfig, fleet_modules


@dataclass(frozen=True)
class EventInfo:
    type_name: str  # TripCompleted
    name: str  # trips.TripCompleted
    version: int
    publisher: str  # label of the module whose events.py defines it
    subscribers: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


@dataclass(frozen=True)
class ModuleCard:
    label: str
    name: str
    depends_on: tuple[str, ...]
    tables: tuple[str, ...]
    functions: tuple[str, ...]  # api.py's public functions
    publishes: tuple[EventInfo, ...]
    consumes: tuple[EventInfo, ...]
    # For each declared dependency, the parts the code imports: "api", "events", and
    # "private models" where it breaks the boundary (the import check reports those).
    uses: tuple[tuple[str, tuple[str, ...]], ...]

    def used_parts(self, dependency: str) -> tuple[str, ...]:
        return dict(self.uses).get(dependency, ())


def module_cards(
    modules: Sequence[FleetModuleConfig] | None = None,
    imports: Sequence[CrossImport] | None = None,
) -> list[ModuleCard]:
    """One card per fleet module, in INSTALLED_APPS order."""
    modules = list(fleet_modules() if modules is None else modules)
    if imports is None:
        imports = cross_module_imports(modules)
    configs = {config.label: config for config in modules}
    events = {config.label: _published_events(config) for config in modules}
    all_events = [event for published in events.values() for event in published]
    used: dict[tuple[str, str], set[tuple[bool, str]]] = {}
    for found in imports:
        target = configs[found.target].name
        part = found.imported[len(target) + 1 :].split(".")[0] or "package"
        private = not found.public or bool(found.private_names)
        used.setdefault((found.source, found.target), set()).add((private, part))
    cards = []
    for config in modules:
        cards.append(
            ModuleCard(
                label=config.label,
                name=config.name,
                depends_on=tuple(config.depends_on),
                tables=tuple(sorted(config.owned_tables())),
                functions=_api_functions(config),
                publishes=events[config.label],
                consumes=tuple(
                    sorted(
                        (event for event in all_events if config.label in event.subscribers),
                        key=lambda event: event.name,
                    )
                ),
                uses=tuple(
                    (
                        dependency,
                        tuple(
                            f"private {part}" if private else part
                            for private, part in sorted(used.get((config.label, dependency), ()))
                        ),
                    )
                    for dependency in config.depends_on
                ),
            )
        )
    return cards


def _optional_module(dotted: str) -> ModuleType | None:
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as error:
        if error.name == dotted:
            return None
        raise


def _api_functions(config: FleetModuleConfig) -> tuple[str, ...]:
    """The names in api.py's ``__all__`` that are callables but not classes (DTOs, errors)."""
    api = _optional_module(f"{config.name}.api")
    if api is None:
        return ()
    declared = getattr(api, "__all__", None)
    if declared is not None:
        names = list(declared)
    else:
        names = [
            name
            for name, value in vars(api).items()
            if not name.startswith("_") and getattr(value, "__module__", None) == api.__name__
        ]
    return tuple(
        sorted(
            name
            for name in names
            if callable(getattr(api, name, None)) and not inspect.isclass(getattr(api, name))
        )
    )


def _published_events(config: FleetModuleConfig) -> tuple[EventInfo, ...]:
    module = _optional_module(f"{config.name}.events")
    if module is None:
        return ()
    found = []
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if issubclass(cls, DomainEvent) and cls is not DomainEvent:
            if cls.__module__ != module.__name__:
                continue  # imported from elsewhere, not published here
            found.append(
                EventInfo(
                    type_name=cls.__name__,
                    name=getattr(cls, "name", cls.__name__),
                    version=cls.version,
                    publisher=config.label,
                    subscribers=tuple(sorted(set(subscribers_of(cls)))),
                )
            )
    return tuple(sorted(found, key=lambda event: event.name))


# --- Mermaid ---------------------------------------------------------------------------------

MARKDOWN_HEADER = """\
# Module map

<!-- Generated by `python manage.py modules graph` from the modules' declarations and code.
Do not edit by hand: a test fails when this file and the code disagree. -->

![The module map](module-map.svg)

Solid arrows are declared dependencies (`depends_on` in each module's `apps.py`), labelled with
the public parts the code imports. Dashed arrows are domain events, from the publisher to each
subscriber.
"""


def _detail(card: ModuleCard) -> str:
    tables, functions = len(card.tables), len(card.functions)
    return (
        f"{tables} table{'' if tables == 1 else 's'} · "
        f"{functions} api function{'' if functions == 1 else 's'}"
    )


def _node_id(label: str) -> str:
    return re.sub(r"\W", "_", label)


def mermaid(cards: Sequence[ModuleCard]) -> str:
    """A Mermaid ``graph`` of the modules, their declared dependencies and their events."""
    known = {card.label for card in cards}
    lines = ["graph TD"]
    for card in cards:
        lines.append(f'    {_node_id(card.label)}["{card.label}<br/>{_detail(card)}"]')
    for card in cards:
        for dependency in card.depends_on:
            target = _node_id(dependency) if dependency in known else None
            if target is None:
                lines.append(f'    {_node_id(dependency)}["{dependency} (not installed)"]')
                target = _node_id(dependency)
            label = ", ".join(card.used_parts(dependency)) or "declared, unused"
            lines.append(f'    {_node_id(card.label)} -->|"{label}"| {target}')
    for publisher, subscriber, names in _event_edges(cards):
        lines.append(
            f'    {_node_id(publisher)} -.->|"{"<br/>".join(names)}"| {_node_id(subscriber)}'
        )
    return "\n".join(lines) + "\n"


def _event_edges(cards: Sequence[ModuleCard]) -> list[tuple[str, str, list[str]]]:
    """(publisher, subscriber, event names) per pair, in a stable order."""
    pairs: dict[tuple[str, str], list[str]] = {}
    for card in cards:
        for event in card.publishes:
            for subscriber in event.subscribers:
                pairs.setdefault((event.publisher, subscriber), []).append(
                    f"{event.type_name} v{event.version}"
                )
    return [
        (publisher, subscriber, names) for (publisher, subscriber), names in sorted(pairs.items())
    ]


def markdown(cards: Sequence[ModuleCard]) -> str:
    """The whole of ``docs/module-map.md``."""
    out = [MARKDOWN_HEADER, "```mermaid", mermaid(cards).rstrip("\n"), "```", "", "## Modules", ""]
    for card in cards:
        out.append(f"### {card.label} (`{card.name}`)")
        out.append("")
        for heading, value in card_fields(card, code=True):
            out.append(f"- **{heading}**: {value}")
        out.append("")
    return "\n".join(out)


def card_fields(card: ModuleCard, *, code: bool = False) -> list[tuple[str, str]]:
    """The card as (heading, value) pairs, shared by ``modules list`` and the Markdown page."""

    def names(values: Sequence[str]) -> str:
        if not values:
            return "none"
        return ", ".join(f"`{value}`" if code else value for value in values)

    dependencies = [
        f"{dependency} ({', '.join(card.used_parts(dependency)) or 'declared, unused'})"
        for dependency in card.depends_on
    ]
    publishes = [
        f"{event} -> {', '.join(event.subscribers) or 'no subscribers'}" for event in card.publishes
    ]
    consumes = [f"{event} from {event.publisher}" for event in card.consumes]
    return [
        ("depends on", ", ".join(dependencies) or "nothing"),
        ("tables", names(card.tables)),
        ("api functions", names(card.functions)),
        ("publishes", "; ".join(publishes) or "nothing"),
        ("consumes", "; ".join(consumes) or "nothing"),
    ]


# --- SVG -------------------------------------------------------------------------------------

NODE_HEIGHT = 48
NODE_GAP = 48
LAYER_GAP = 120
MARGIN = 32
VIRTUAL_WIDTH = 24
DEPENDENCY_COLOUR = "#334155"
EVENT_COLOUR = "#2563eb"


def _text_width(text: str, size: int, *, bold: bool = False) -> int:
    # An estimate: the layout must not depend on fonts installed on the machine drawing it.
    return round(len(text) * size * (0.62 if bold else 0.56))


@dataclass
class _Box:
    key: str  # a module label, or "edge:<source>:<target>:<layer>" for a waypoint
    layer: int
    width: int
    x: int = 0  # centre
    y: int = 0  # centre

    @property
    def virtual(self) -> bool:
        return self.key.startswith("edge:")


def _layers(cards: Sequence[ModuleCard]) -> dict[str, int]:
    """Longest path to a module without dependencies; a cycle's back edge is ignored."""
    edges = {
        card.label: [d for d in card.depends_on if d in {c.label for c in cards}] for card in cards
    }
    layer: dict[str, int] = {}

    def visit(label: str, visiting: frozenset[str]) -> int:
        if label in layer:
            return layer[label]
        below = [visit(d, visiting | {label}) for d in edges[label] if d not in visiting | {label}]
        layer[label] = 1 + max(below) if below else 0
        return layer[label]

    for card in cards:
        visit(card.label, frozenset())
    return layer


def svg(cards: Sequence[ModuleCard]) -> str:
    """The module map as a standalone SVG, laid out in layers (dependencies below)."""
    layer = _layers(cards)
    by_label = {card.label: card for card in cards}
    boxes: dict[str, _Box] = {}
    for card in cards:
        width = max(_text_width(card.label, 15, bold=True), _text_width(_detail(card), 11)) + 28
        boxes[card.label] = _Box(card.label, layer[card.label], width)
    # Dependencies spanning several layers pass through waypoints, so they go around boxes.
    routes: dict[tuple[str, str], list[str]] = {}
    for card in cards:
        for dependency in card.depends_on:
            if dependency not in by_label:
                continue
            top, bottom = layer[card.label], layer[dependency]
            waypoints = []
            for between in range(top - 1, bottom, -1):
                key = f"edge:{card.label}:{dependency}:{between}"
                boxes[key] = _Box(key, between, VIRTUAL_WIDTH)
                waypoints.append(key)
            routes[(card.label, dependency)] = [card.label, *waypoints, dependency]
    below: dict[str, list[str]] = {key: [] for key in boxes}
    for path in routes.values():
        for upper, lower in itertools.pairwise(path):
            if boxes[upper].layer > boxes[lower].layer:
                below[upper].append(lower)

    rows: dict[int, list[_Box]] = {}
    for box in boxes.values():
        rows.setdefault(box.layer, []).append(box)
    top_layer = max(rows) if rows else 0
    order: dict[str, float] = {}
    for number in sorted(rows):
        row = rows[number]

        def rank(box: _Box) -> tuple[float, int, str]:
            placed = [order[key] for key in below[box.key] if key in order]
            centre = sum(placed) / len(placed) if placed else float("inf")
            return (centre, 1 if box.virtual else 0, box.key)

        row.sort(key=rank)
        for index, box in enumerate(row):
            order[box.key] = index - (len(row) - 1) / 2
    widths = {n: sum(b.width for b in row) + NODE_GAP * (len(row) - 1) for n, row in rows.items()}
    canvas_width = max(widths.values(), default=0) + 2 * MARGIN + 160
    for number, row in rows.items():
        x = (canvas_width - widths[number]) // 2
        for box in row:
            box.x = x + box.width // 2
            box.y = MARGIN + NODE_HEIGHT // 2 + (top_layer - number) * LAYER_GAP
            x += box.width + NODE_GAP
    legend_y = MARGIN + top_layer * LAYER_GAP + NODE_HEIGHT + 40
    canvas_height = legend_y + 28

    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{canvas_width}" height="{canvas_height}" '
        f'viewBox="0 0 {canvas_width} {canvas_height}" '
        'font-family="Helvetica, Arial, sans-serif">',
        "<title>Fleet module map</title>",
        "<defs>",
        _marker("dependency", DEPENDENCY_COLOUR),
        _marker("event", EVENT_COLOUR),
        "</defs>",
        f'<rect width="{canvas_width}" height="{canvas_height}" fill="#ffffff"/>',
    ]
    for (source, target), path in sorted(routes.items()):
        points = [(boxes[key].x, boxes[key].y) for key in path]
        points[0] = _edge_end(boxes[source], points[1])
        points[-1] = _edge_end(boxes[target], points[-2])
        if len(points) == 2 and (target, source) in routes:
            points = _shifted(points, 5)  # a declared cycle: keep the two arrows apart
        label = ", ".join(by_label[source].used_parts(target)) or "declared, unused"
        middle = _midpoint(points)
        parts.append(
            f'<polyline points="{" ".join(f"{x},{y}" for x, y in points)}" fill="none" '
            f'stroke="{DEPENDENCY_COLOUR}" stroke-width="1.5" marker-end="url(#dependency)"/>'
        )
        parts.append(_label(label, middle, DEPENDENCY_COLOUR))
    for publisher, subscriber, names in _event_edges(cards):
        if publisher not in boxes or subscriber not in boxes:
            continue
        if publisher == subscriber:
            parts.extend(_self_loop(boxes[publisher], names))
            continue
        start_box, end_box = boxes[publisher], boxes[subscriber]
        start = _edge_end(start_box, (end_box.x, end_box.y))
        end = _edge_end(end_box, (start_box.x, start_box.y))
        # Bend to the right of the straight line, so it never hides a dependency arrow.
        dx, dy = end[0] - start[0], end[1] - start[1]
        control = ((start[0] + end[0]) // 2 - dy // 3 + 60, (start[1] + end[1]) // 2 + dx // 3)
        parts.append(
            f'<path d="M{start[0]},{start[1]} Q{control[0]},{control[1]} {end[0]},{end[1]}" '
            f'fill="none" stroke="{EVENT_COLOUR}" stroke-width="1.5" stroke-dasharray="6 4" '
            'marker-end="url(#event)"/>'
        )
        curve_middle = (
            (start[0] + 2 * control[0] + end[0]) // 4,
            (start[1] + 2 * control[1] + end[1]) // 4,
        )
        parts.append(_label(", ".join(names), curve_middle, EVENT_COLOUR))
    for card in cards:
        box = boxes[card.label]
        left, top = box.x - box.width // 2, box.y - NODE_HEIGHT // 2
        detail = _detail(card)
        parts.append(
            f'<g><rect x="{left}" y="{top}" width="{box.width}" height="{NODE_HEIGHT}" rx="8" '
            'fill="#f8fafc" stroke="#0f172a" stroke-width="1.5"/>'
            f'<text x="{box.x}" y="{box.y - 4}" text-anchor="middle" font-size="15" '
            f'font-weight="bold" fill="#0f172a">{escape(card.label)}</text>'
            f'<text x="{box.x}" y="{box.y + 14}" text-anchor="middle" font-size="11" '
            f'fill="#475569">{escape(detail)}</text></g>'
        )
    parts.append(
        f'<g font-size="11" fill="#334155">'
        f'<line x1="{MARGIN}" y1="{legend_y}" x2="{MARGIN + 36}" y2="{legend_y}" '
        f'stroke="{DEPENDENCY_COLOUR}" stroke-width="1.5" marker-end="url(#dependency)"/>'
        f'<text x="{MARGIN + 44}" y="{legend_y + 4}">declared dependency (what it imports)</text>'
        f'<line x1="{MARGIN + 290}" y1="{legend_y}" x2="{MARGIN + 326}" y2="{legend_y}" '
        f'stroke="{EVENT_COLOUR}" stroke-width="1.5" stroke-dasharray="6 4" '
        'marker-end="url(#event)"/>'
        f'<text x="{MARGIN + 334}" y="{legend_y + 4}">event, publisher to subscriber</text></g>'
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _marker(name: str, colour: str) -> str:
    return (
        f'<marker id="{name}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        f'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{colour}"/></marker>'
    )


def _self_loop(box: _Box, names: Sequence[str]) -> list[str]:
    """Events a module publishes and handles itself: a loop off the box's right side, the
    names beside it, one a line."""
    right = box.x + box.width // 2
    top, bottom = box.y - NODE_HEIGHT // 4, box.y + NODE_HEIGHT // 4
    reach = right + 40
    loop = (
        f'<path d="M{right},{top} C{reach},{top - 24} {reach},{bottom + 24} {right + 2},{bottom}" '
        f'fill="none" stroke="{EVENT_COLOUR}" stroke-width="1.5" stroke-dasharray="6 4" '
        'marker-end="url(#event)"/>'
    )
    first = box.y - (len(names) - 1) * 13 // 2
    return [loop] + [
        _label(name, (reach, first + 13 * index), EVENT_COLOUR) for index, name in enumerate(names)
    ]


def _edge_end(box: _Box, towards: tuple[int, int]) -> tuple[int, int]:
    """Where a line from ``box``'s centre towards a point leaves the box."""
    if box.virtual:
        return box.x, box.y
    dx, dy = towards[0] - box.x, towards[1] - box.y
    if dx == 0 and dy == 0:
        return box.x, box.y
    half_width, half_height = box.width / 2, NODE_HEIGHT / 2
    scale = min(
        half_width / abs(dx) if dx else float("inf"),
        half_height / abs(dy) if dy else float("inf"),
    )
    return round(box.x + dx * scale), round(box.y + dy * scale)


def _shifted(points: list[tuple[int, int]], by: int) -> list[tuple[int, int]]:
    """The segment moved sideways (to its left) by ``by`` pixels."""
    (x1, y1), (x2, y2) = points
    length = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5 or 1
    dx, dy = round(-(y2 - y1) / length * by), round((x2 - x1) / length * by)
    return [(x1 + dx, y1 + dy), (x2 + dx, y2 + dy)]


def _midpoint(points: Sequence[tuple[int, int]]) -> tuple[int, int]:
    lengths = [
        ((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2) ** 0.5 for a, b in itertools.pairwise(points)
    ]
    remaining = sum(lengths) / 2
    for (a, b), length in zip(itertools.pairwise(points), lengths, strict=True):
        if remaining <= length and length:
            share = remaining / length
            return round(a[0] + (b[0] - a[0]) * share), round(a[1] + (b[1] - a[1]) * share)
        remaining -= length
    return points[-1]


def _label(text: str, at: tuple[int, int], colour: str) -> str:
    return (
        f'<text x="{at[0] + 6}" y="{at[1] + 4}" font-size="11" fill="{colour}" '
        f'stroke="#ffffff" stroke-width="3" paint-order="stroke">{escape(text)}</text>'
    )
