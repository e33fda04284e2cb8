"""Towing: plants import-undeclared on a dependency of a dependency (garage -> depot).

The peel check installs depot with towing (towing needs garage, garage needs depot), so only the
import check notices that towing calls depot without declaring it.
"""
