"""What counts as an image's content: its layers (diff ids) and how it runs, not when it was built.

Content tags are immutable: a tag in a registry is never pushed over with other content. The
classic builder stamps every image configuration with its build time, so two builds of the same
inputs have different configurations (and manifest digests) though their layers are identical
(see the Dockerfile's deps stage). Those are the same content; anything else under one tag is a
conflict. Pure functions over the engine's ``inspect`` and the registry's configuration blob.
"""

from __future__ import annotations

from typing import Any

#: The parts of an image configuration that change what a container does.
RUNTIME_KEYS = (
    "Cmd",
    "Entrypoint",
    "Env",
    "ExposedPorts",
    "Healthcheck",
    "Labels",
    "OnBuild",
    "Shell",
    "StopSignal",
    "User",
    "Volumes",
    "WorkingDir",
)


def _runtime(config: dict[str, Any] | None) -> dict[str, Any]:
    config = config or {}
    return {key: config.get(key) or None for key in RUNTIME_KEYS}  # missing, null, [] and {} alike


def of_inspect(info: dict[str, Any]) -> dict[str, Any]:
    """The content of a local image (``docker inspect``)."""
    return {
        "layers": list((info.get("RootFS") or {}).get("Layers") or []),
        "platform": f"{info.get('Os')}/{info.get('Architecture')}",
        "runtime": _runtime(info.get("Config")),
    }


def of_config(config: dict[str, Any]) -> dict[str, Any]:
    """The content of an image in a registry (its configuration blob)."""
    return {
        "layers": list((config.get("rootfs") or {}).get("diff_ids") or []),
        "platform": f"{config.get('os')}/{config.get('architecture')}",
        "runtime": _runtime(config.get("config")),
    }


def differences(local: dict[str, Any], remote: dict[str, Any]) -> list[str]:
    """What differs between two contents, for people ("layers", "runtime: Env"...); empty: the same."""
    found = [part for part in ("layers", "platform") if local[part] != remote[part]]
    found += [f"runtime: {key}" for key in RUNTIME_KEYS if local["runtime"][key] != remote["runtime"][key]]
    return found
