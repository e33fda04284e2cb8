from monolith.platform import registry


class BenchmarkConfig(registry.FleetModuleConfig):
    name = "bench.event_module"
    label = "benchmark"
    verbose_name = "Event benchmark"

    def ready(self) -> None:
        from bench.event_module.events import BeaconEmitted, beacon_handle
        from monolith.platform.events import subscribe

        subscribe(BeaconEmitted, beacon_handle, subscriber="benchmark")
