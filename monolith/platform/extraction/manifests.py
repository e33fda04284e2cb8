"""The Kubernetes manifests of an extracted service: one kustomize base, plain objects.

Each function returns one object as the API server takes it. The base uses nothing kustomize
would have to compute (no generators, no transformers): an overlay per environment sets the
image, the replica bounds, the peers' addresses. Secrets are referred to, never written: the
Secret objects come from the cluster's secret store.
"""

from typing import Any

from monolith.platform.deployable_process import gunicorn_command
from monolith.platform.extraction.spec import (
    MONOLITH_URL,
    SERVICE_PORT,
    SERVICE_UID,
    ServiceSpec,
    module_url_variable,
)

Manifest = dict[str, Any]

# Pods that may call the service: the monolith (routing and in-process calls turned into HTTP)
# and the API gateway in front of it.
CALLERS = ("monolith", "gateway")
PART_OF = "fleet-platform"
# Egress the service needs besides its peers; an overlay narrows "to" once the addresses of
# the managed database and broker are known.
DATABASE_PORTS = (5432,)
BROKER_PORTS = (6379, 5672)  # Redis, RabbitMQ
# The secret shared by every deployable, for signed internal calls.
INTERNAL_TOKEN_SECRET = "fleet-internal-token"  # noqa: S105 - a Secret's name, not its value
# The Host header the probes send, one of ALLOWED_HOSTS.
PROBE_HOST = "localhost"


def secret_references(spec: ServiceSpec) -> tuple[tuple[str, str, str], ...]:
    """The variables the service reads from Secrets: (variable, Secret, key)."""
    return (
        ("DATABASE_URL", spec.name, "DATABASE_URL"),
        ("SECRET_KEY", spec.name, "SECRET_KEY"),
        ("CELERY_BROKER_URL", spec.name, "CELERY_BROKER_URL"),
        ("FLEET_INTERNAL_TOKEN_SECRET", INTERNAL_TOKEN_SECRET, "FLEET_INTERNAL_TOKEN_SECRET"),
    )


def optional_secret_references(spec: ServiceSpec) -> tuple[tuple[str, str, str], ...]:
    """Variables read from Secrets only when the key is there: the previous internal token
    secret, accepted while the deployables roll onto a new one (docs/extraction.md)."""
    return (
        (
            "FLEET_INTERNAL_TOKEN_SECRET_PREVIOUS",
            INTERNAL_TOKEN_SECRET,
            "FLEET_INTERNAL_TOKEN_SECRET_PREVIOUS",
        ),
    )


def labels(spec: ServiceSpec) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": spec.name,
        "app.kubernetes.io/component": "service",
        "app.kubernetes.io/part-of": PART_OF,
    }


def selector(spec: ServiceSpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": spec.name}


def _metadata(spec: ServiceSpec) -> dict[str, Any]:
    return {"name": spec.name, "labels": labels(spec)}


def container_command(spec: ServiceSpec) -> tuple[list[str], list[str]]:
    """The container's command and args: the deployables' one gunicorn command.

    Kubernetes expands ``$(PORT)`` from the container's environment (the ConfigMap).
    """
    _, *command = gunicorn_command(
        bind="0.0.0.0:$(PORT)",  # the pod's own network namespace
        wsgi=spec.wsgi_module,
    )
    return ["python", *command[:2]], command[2:]


def migrate_command() -> list[str]:
    """The init container's command: the service's own migrations, before gunicorn starts."""
    return ["python", "manage.py", "migrate", "--no-input"]


def configuration(spec: ServiceSpec) -> dict[str, str]:
    """The ConfigMap's data: every setting that is not a secret."""
    return {
        "DJANGO_SETTINGS_MODULE": spec.settings_module,
        "PORT": str(SERVICE_PORT),
        "WEB_CONCURRENCY": "2",
        # gthread (monolith/gunicorn.conf.py): threads per worker, and kept-alive connections
        # held longer than the callers' gaps between requests, as only deployables call it.
        "GUNICORN_THREADS": "4",
        "GUNICORN_KEEPALIVE": "75",
        "GUNICORN_TIMEOUT": "30",
        "LOG_LEVEL": "INFO",
        # Reached by Service name inside the cluster, and by the probes as localhost.
        "ALLOWED_HOSTS": f"{PROBE_HOST},{spec.name},.svc.cluster.local",
        # TLS ends at the gateway; the service answers only the cluster's plain HTTP.
        "SECURE_SSL_REDIRECT": "false",
        "CELERY_TASK_DEFAULT_QUEUE": spec.task_queue,
        # Its routing state and traffic counts apart from the monolith's when they share a
        # Redis: the monolith's edge counts what it forwards as served by the service already.
        "COHORT_ROUTING_KEY_PREFIX": f"fleet:cohorts:{spec.name}:",
        **{module_url_variable(label): MONOLITH_URL for label in spec.reached},
    }


def service_account(spec: ServiceSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(spec),
        # The service never calls the Kubernetes API.
        "automountServiceAccountToken": False,
    }


def config_map(spec: ServiceSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(spec),
        "data": configuration(spec),
    }


def _container_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": SERVICE_UID,
        "runAsGroup": SERVICE_UID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _environment(spec: ServiceSpec) -> dict[str, Any]:
    return {
        "envFrom": [{"configMapRef": {"name": spec.name}}],
        "env": [
            {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
            for variable, secret, key in secret_references(spec)
        ]
        + [
            {
                "name": variable,
                "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": True}},
            }
            for variable, secret, key in optional_secret_references(spec)
        ],
    }


def _resources() -> dict[str, Any]:
    return {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }


def _probe(path: str, **timing: int) -> dict[str, Any]:
    return {
        "httpGet": {
            "path": path,
            "port": "http",
            # Django checks the Host header; a probe would otherwise send the pod's IP.
            "httpHeaders": [{"name": "Host", "value": PROBE_HOST}],
        },
        **timing,
    }


def deployment(spec: ServiceSpec) -> Manifest:
    command, args = container_command(spec)
    tmp = [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108 - an emptyDir of the pod's own
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(spec),
        "spec": {
            # The HorizontalPodAutoscaler's minimum; it scales from there.
            "replicas": 2,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(spec)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": labels(spec)},
                "spec": {
                    "serviceAccountName": spec.name,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": SERVICE_UID,
                        "runAsGroup": SERVICE_UID,
                        "fsGroup": SERVICE_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    # gunicorn's graceful timeout is 20 s: let it finish the requests it holds.
                    "terminationGracePeriodSeconds": 30,
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector(spec)},
                        }
                    ],
                    "initContainers": [
                        {
                            "name": "migrate",
                            "image": spec.image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": migrate_command(),
                            **_environment(spec),
                            "resources": _resources(),
                            "securityContext": _container_security(),
                            "volumeMounts": tmp,
                        }
                    ],
                    "containers": [
                        {
                            "name": "gunicorn",
                            "image": spec.image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": command,
                            "args": args,
                            "ports": [
                                {"name": "http", "containerPort": SERVICE_PORT, "protocol": "TCP"}
                            ],
                            **_environment(spec),
                            "startupProbe": _probe(
                                "/healthz", periodSeconds=2, failureThreshold=30
                            ),
                            "livenessProbe": _probe(
                                "/healthz", periodSeconds=10, timeoutSeconds=2, failureThreshold=3
                            ),
                            # /readyz waits up to 2 s for the database and 2 s for the broker.
                            "readinessProbe": _probe(
                                "/readyz", periodSeconds=5, timeoutSeconds=5, failureThreshold=2
                            ),
                            "resources": _resources(),
                            "securityContext": _container_security(),
                            "volumeMounts": tmp,
                        }
                    ],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}
                    ],
                },
            },
        },
    }


def service(spec: ServiceSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(spec),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(spec),
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }


def horizontal_pod_autoscaler(spec: ServiceSpec) -> Manifest:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(spec),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.name},
            "minReplicas": 2,
            "maxReplicas": 6,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
            # Scale down slowly: a burst that just ended often comes back.
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def pod_disruption_budget(spec: ServiceSpec) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(spec),
        "spec": {
            "minAvailable": 1,
            "selector": {"matchLabels": selector(spec)},
            # A pod that is not ready serves nothing: a node drain may evict it.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def _ports(protocol: str, *numbers: int) -> list[dict[str, Any]]:
    return [{"protocol": protocol, "port": number} for number in numbers]


def network_policy(spec: ServiceSpec) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(spec),
        "spec": {
            "podSelector": {"matchLabels": selector(spec)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [
                        {
                            "podSelector": {
                                "matchExpressions": [
                                    {
                                        "key": "app.kubernetes.io/name",
                                        "operator": "In",
                                        "values": list(CALLERS),
                                    }
                                ]
                            }
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": "http"}],
                }
            ],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                            },
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": _ports("UDP", 53) + _ports("TCP", 53),
                },
                {"ports": _ports("TCP", *DATABASE_PORTS)},
                {"ports": _ports("TCP", *BROKER_PORTS)},
                {
                    # The other modules: the monolith and the services extracted before.
                    "to": [
                        {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": PART_OF}}}
                    ],
                    "ports": _ports("TCP", SERVICE_PORT),
                },
            ],
        },
    }


# File name in the base -> the object; the kustomization lists them in this order.
RESOURCES = {
    "serviceaccount.yaml": service_account,
    "configmap.yaml": config_map,
    "deployment.yaml": deployment,
    "service.yaml": service,
    "horizontalpodautoscaler.yaml": horizontal_pod_autoscaler,
    "poddisruptionbudget.yaml": pod_disruption_budget,
    "networkpolicy.yaml": network_policy,
}


def kustomization() -> Manifest:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(RESOURCES),
    }
