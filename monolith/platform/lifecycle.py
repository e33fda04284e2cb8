"""Lifecycles: a table of the only allowed status steps, and the check every service runs.

Each module declares its own table (vehicles, trips); this is the one mechanism that reads it,
so every lifecycle answers an illegal step the same way: a 409 naming both states and the
steps that are allowed.
"""

from collections.abc import Iterable, Mapping

from monolith.platform.errors import IllegalTransition


class Lifecycle:
    """The allowed steps between the states of one kind of thing (``subject``)."""

    def __init__(self, *, subject: str, transitions: Mapping[str, Iterable[str]]) -> None:
        self.subject = subject
        # str() turns TextChoices members into their plain values, so messages read 'in_trip'.
        self.transitions: dict[str, frozenset[str]] = {
            str(state): frozenset(str(step) for step in steps)
            for state, steps in transitions.items()
        }
        unknown = set().union(*self.transitions.values()) - set(self.transitions)
        if unknown:
            raise ValueError(f"Steps lead to states with no row of their own: {sorted(unknown)}")

    def next_states(self, current: str) -> frozenset[str]:
        return self.transitions.get(str(current), frozenset())

    def allowed(self, current: str, wanted: str) -> bool:
        return str(wanted) in self.next_states(current)

    def check(self, current: str, wanted: str) -> None:
        """Raise ``IllegalTransition`` unless ``current`` may become ``wanted``."""
        current, wanted = str(current), str(wanted)
        if self.allowed(current, wanted):
            return
        steps = sorted(self.next_states(current))
        raise IllegalTransition(
            f"A {self.subject} cannot go from {current!r} to {wanted!r}; "
            f"from {current!r} it may go to: {', '.join(steps) or 'nothing (it is final)'}.",
            field="status",
        )
