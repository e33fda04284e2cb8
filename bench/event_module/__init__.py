"""A measurement-only fleet module for ``bench.event_throughput``: one event type, a no-op
handler, and its own outbox, inbox and parked deliveries.

Installed only by ``bench.event_settings`` (the benchmark's publisher and its worker), so the
benchmark measures the event machinery (outbox, relay, broker, worker, inbox) rather than any
module's business logic, and leaves the real modules' tables alone.
"""
