"""Scanners: plants import-private in a test file."""
