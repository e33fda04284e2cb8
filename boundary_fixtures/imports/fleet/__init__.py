"""The fixture modules; each plants at most one kind of violation."""
