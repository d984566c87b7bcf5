"""A small kustomize renderer for the features deploy/k8s uses, so tests need no binary.

Supports ``resources`` (files and directories), ``namespace``, ``images``, ``labels``
(without selectors) and JSON 6902 ``patches`` with a target. Anything else in a
kustomization raises, so a feature added to the manifests cannot be silently ignored;
where ``kubectl`` exists, a test checks this renderer against ``kubectl kustomize``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonpatch
import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "images", "labels", "patches"}


def render(folder: Path) -> list[dict[str, Any]]:
    """The documents ``kustomize build folder`` would output (in file order)."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise ValueError(f"{folder}: kustomization fields this renderer lacks: {unknown}")
    docs: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = folder / entry
        docs += (
            render(path)
            if path.is_dir()
            else [d for d in yaml.safe_load_all(path.read_text()) if d]
        )
    for label in spec.get("labels", []):
        if label.get("includeSelectors") or label.get("includeTemplates"):
            raise ValueError(f"{folder}: labels on selectors/templates are not supported")
        for doc in docs:
            doc["metadata"].setdefault("labels", {}).update(label["pairs"])
    _set_images(docs, spec.get("images", []))
    if "namespace" in spec:
        for doc in docs:
            doc["metadata"]["namespace"] = spec["namespace"]
    for patch in spec.get("patches", []):
        _patch(folder, docs, patch)
    return docs


def _set_images(docs: list[dict[str, Any]], images: list[dict[str, str]]) -> None:
    for container in (c for doc in docs for c in _containers(doc)):
        for image in images:
            if container["image"] == image["name"]:
                container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"


def _patch(folder: Path, docs: list[dict[str, Any]], patch: dict[str, Any]) -> None:
    ops = yaml.safe_load((folder / patch["path"]).read_text())
    target = patch["target"]
    hits = [
        i
        for i, d in enumerate(docs)
        if d["kind"] == target["kind"] and d["metadata"]["name"] == target["name"]
    ]
    if len(hits) != 1:
        raise ValueError(f"{folder}: patch {patch['path']} matches {len(hits)} documents")
    docs[hits[0]] = jsonpatch.apply_patch(docs[hits[0]], ops)


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    return list(spec.get("containers", [])) + list(spec.get("initContainers", []))


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers of a workload document (none for other kinds)."""
    return _containers(doc)
