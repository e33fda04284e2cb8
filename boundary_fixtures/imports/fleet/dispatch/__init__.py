"""Dispatch: plants import-undeclared (depot is not in depends_on)."""
