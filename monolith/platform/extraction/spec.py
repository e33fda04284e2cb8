"""What a service extracted from the monolith is: the names, port and user every file shares."""

from dataclasses import dataclass
from pathlib import PurePosixPath

from monolith.platform.registry import fleet_module, fleet_modules

# The port gunicorn listens on in the container; the Service, the probes and the ConfigMap's
# PORT all say the same.
SERVICE_PORT = 8000
# The unprivileged user and group the image creates and the pod runs as.
SERVICE_UID = 10001
# Where the other modules are until they are extracted too: the monolith's Service.
MONOLITH_URL = f"http://monolith:{SERVICE_PORT}"
# The folder, at the repository root, that holds every extracted service.
EXTRACTED = PurePosixPath("extracted")


def module_url_variable(label: str) -> str:
    """The environment variable that holds a module's base URL for a service that reaches it."""
    return f"FLEET_MODULE_URL_{label.upper()}"


@dataclass(frozen=True)
class ServiceSpec:
    """One fleet module as a deployable of its own."""

    label: str  # the module it serves: "trips"
    package: str  # the module's package, run unchanged: "modules.trips"
    # Every other fleet module, reached over HTTP at FLEET_MODULE_URL_<LABEL>.
    reached: tuple[str, ...]

    @property
    def name(self) -> str:
        """The Kubernetes name of everything the service runs as: ``trips-service``."""
        return f"{self.label}-service"

    @property
    def image(self) -> str:
        """The container image, without registry or tag (a kustomize overlay sets them)."""
        return f"fleet-{self.name}"

    @property
    def directory(self) -> PurePosixPath:
        return EXTRACTED / self.label

    @property
    def kustomize_base(self) -> PurePosixPath:
        return self.directory / "k8s" / "base"

    @property
    def settings_module(self) -> str:
        return f"{EXTRACTED}.{self.label}.settings"

    @property
    def wsgi_module(self) -> str:
        return f"{EXTRACTED}.{self.label}.wsgi"

    @property
    def worker_name(self) -> str:
        """The Celery worker's Deployment: ``trips-service-worker``."""
        return f"{self.name}-worker"

    @property
    def beat_name(self) -> str:
        """The Celery beat's Deployment, one pod: ``trips-service-beat``."""
        return f"{self.name}-beat"

    @property
    def task_queue(self) -> str:
        """The Celery queue the service's own tasks go to, apart from the monolith's."""
        return f"fleet.{self.name}"


def service_spec(label: str) -> ServiceSpec:
    """The service for the installed fleet module ``label``; ``LookupError`` if there is none."""
    config = fleet_module(label)
    reached = tuple(other.label for other in fleet_modules() if other.label != config.label)
    return ServiceSpec(label=config.label, package=config.name, reached=reached)
