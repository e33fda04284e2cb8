"""Meters: declares parking; parking imports it back (an import cycle)."""
