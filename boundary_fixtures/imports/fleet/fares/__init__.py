"""Fares: half of a declared dependency cycle (with tolls)."""
