"""Fixture code for the runtime SQL guard tests.

``readers.py`` is ordinary code that reads tables directly. The tests load it under a fleet
module's name (``reader_load("modules.billing.sql_guard_reader")``), so the guard attributes its
statements to that module, and its file and lines are real for the messages to point at.
"""

import importlib.util
from pathlib import Path
from types import ModuleType

READERS = Path(__file__).with_name("readers.py")


def reader_load(module_name: str) -> ModuleType:
    """``readers.py`` as a fresh Python module named ``module_name`` (not put in sys.modules)."""
    spec = importlib.util.spec_from_file_location(module_name, READERS)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {READERS}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
