"""A Jepsen-style history: every operation's invocation and completion.

Each event is a dict ``{"index", "time", "process", "type", "f", "value"}``:
``type`` is ``invoke``, ``ok`` (it happened), ``fail`` (it definitely did
not) or ``info`` (unknown: it may have happened, or may still); ``time`` is
seconds since the run began. Nemesis events use process ``"nemesis"``.
Threads append concurrently; the lock keeps the order the events happened in.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

Event = dict[str, Any]


class History:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self._start = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._start

    def add(self, process: object, type_: str, f: str, value: object = None) -> Event:
        with self._lock:
            event = {
                "index": len(self.events),
                "time": round(self.now(), 4),
                "process": process,
                "type": type_,
                "f": f,
                "value": value,
            }
            self.events.append(event)
            return event

    def save(self, path: Path) -> None:
        with self._lock:
            path.write_text("".join(json.dumps(e) + "\n" for e in self.events))

    @staticmethod
    def load(path: Path) -> list[Event]:
        return [json.loads(line) for line in path.read_text().splitlines() if line]
