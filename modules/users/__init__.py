"""Riders and staff: profiles, preferences, the credit wallet and its ledger, roles."""
