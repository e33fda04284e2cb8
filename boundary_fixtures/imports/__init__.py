"""A fixture project for the import check: one clean module and one planted violation per rule.

Run the checks against it with ``--settings=boundary_fixtures.imports.settings``. Nothing here
is collected by pytest; ``monolith/platform/tests/test_boundaries_imports_*.py`` drive it.
"""
