"""kafka-python's own codec, used as the test oracle for ours."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

import kafka.protocol


@cache
def kafka_python_classes() -> dict[str, Any]:
    """Message name -> kafka-python class, for every schema it ships."""
    found: dict[str, Any] = {}
    for info in pkgutil.walk_packages(kafka.protocol.__path__, "kafka.protocol."):
        if info.name.endswith(("generate_stubs", "__main__")):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            schema = getattr(value, "_json", None)
            if isinstance(value, type) and isinstance(schema, dict) and "name" in schema:
                found.setdefault(schema["name"], value)
    return found


def reencode(name: str, version: int, data: bytes) -> bytes:
    """Decode ``data`` with kafka-python and encode the result again."""
    cls = kafka_python_classes()[name]
    if cls._json["type"] == "header":
        flexible = version == cls._flexible_versions[0]
        obj = cls.decode(_BytesIO(data), flexible=flexible)
        return bytes(obj.encode(flexible=flexible))
    obj = cls.decode(data, version=version)
    obj._header = None  # decode() leaves the slot unset; encode() reads it
    return bytes(obj.encode(version=version))


def _BytesIO(data: bytes) -> Any:
    import io

    return io.BytesIO(data)
