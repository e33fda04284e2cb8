"""Parking: closes the import cycle with meters without declaring it."""
