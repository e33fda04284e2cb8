"""Fleet: vehicle registry, status lifecycle, firmware, telemetry and fleet status."""
