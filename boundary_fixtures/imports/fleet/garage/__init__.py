"""Garages: uses depot only through its front door; the clean module."""
