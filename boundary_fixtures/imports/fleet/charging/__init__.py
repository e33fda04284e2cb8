"""Charging: plants import-private inside a function (a lazy import)."""
