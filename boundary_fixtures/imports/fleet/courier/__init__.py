"""Couriers: plants import-private (depot's models)."""
