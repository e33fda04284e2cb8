"""Tolls: the other half of the declared cycle with fares."""
