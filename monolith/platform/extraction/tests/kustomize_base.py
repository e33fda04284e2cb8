"""A kustomize base read as kustomize would, and each object validated against the schemas.

There is no kustomize binary here, and none is needed: a generated base uses nothing but
``resources:``, so rendering it is reading the files it lists, in order. Anything else in
kustomization.yaml (a transformer, a generator) is refused rather than ignored, and so is a
file in the folder that kustomization.yaml does not list: what is validated is what would be
applied.

Validation is kubernetes-validate's strict mode (unknown fields fail) against the official
schemas it ships, offline. Its command line only warns about a kind it has no schema for and
exits 0; here that is a failure.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

# The oldest Kubernetes release the manifests support and the newest the package ships.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources"}


class ManifestInvalid(AssertionError):
    """A manifest that would not be applied as written."""


@dataclass(frozen=True)
class Resource:
    filename: str
    manifest: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])


def kustomize_build(base: Path) -> list[Resource]:
    """The objects the base holds, in the order kustomization.yaml lists their files."""
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    if kustomization.get("kind") != "Kustomization":
        raise ManifestInvalid(f"{base}/kustomization.yaml is not a Kustomization")
    unknown = set(kustomization) - KUSTOMIZATION_KEYS
    if unknown:
        raise ManifestInvalid(
            f"{base}/kustomization.yaml uses {', '.join(sorted(unknown))}, which this reader "
            "does not render: keep the base to resources"
        )
    listed = list(kustomization["resources"])
    present = sorted(path.name for path in base.iterdir() if path.name != "kustomization.yaml")
    if sorted(listed) != present:
        raise ManifestInvalid(
            f"{base}: kustomization.yaml lists {sorted(listed)} but the folder holds {present}"
        )
    resources = []
    for filename in listed:
        documents = [doc for doc in yaml.safe_load_all((base / filename).read_text()) if doc]
        if len(documents) != 1:
            raise ManifestInvalid(f"{base / filename} holds {len(documents)} objects, not one")
        resources.append(Resource(filename, documents[0]))
    return resources


def validate_strictly(manifest: dict[str, Any], version: str) -> None:
    """Raise ``ManifestInvalid`` unless ``manifest`` is valid for Kubernetes ``version``."""
    where = f"{manifest.get('kind')} {manifest.get('metadata', {}).get('name')}"
    try:
        kubernetes_validate.validate(manifest, version, strict=True)
    except SchemaNotFoundError as error:
        raise ManifestInvalid(
            f"{where}: no schema, so it cannot be validated: {error.message}"
        ) from None
    except ValidationError as error:
        path = ".".join(str(part) for part in error.path)
        raise ManifestInvalid(
            f"{where} is invalid for Kubernetes {version}: {path}: {error.message}"
        ) from None
