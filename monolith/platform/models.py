"""Platform tables: none yet; the outbox and routing state will live here."""
