"""Fixture projects that plant boundary violations, one area per package, for the boundary tests."""
