"""Depots: the module the others call; clean."""
