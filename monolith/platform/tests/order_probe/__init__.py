"""A test-only app whose handler writes down the order it sees one vehicle's events in.

Installed by ``monolith.platform.tests.order_probe.settings`` in the worker process of the
order-per-aggregate integration test; the test process subscribes the same handler with
``order_probe_subscribed()``. Its event is published into the vehicles outbox and handled by
trips (which has an inbox), so the real relay, broker, worker and inbox carry it. It has no
tables, hence no migrations.
"""
