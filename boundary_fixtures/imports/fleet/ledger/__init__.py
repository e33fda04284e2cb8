"""Ledgers: plants import-private through a public module (names depot's api does not export)."""
