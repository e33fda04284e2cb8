"""Rentals: plants depends-unknown (a typo in depends_on)."""
