"""One run: cluster up, workload, the seeded fault schedule, heal, check.

Everything lands in ``faults/runs/<UTC timestamp>-<seed>/``: ``run.json``
(seed, options, schedule), ``history.jsonl``, ``final.json`` (the reads
after heal), ``verdict.json``, and the nodes' data dirs and logs
(``node-N.log``), which are deleted after a valid run unless ``keep`` is set,
and kept after a violation.
"""

from __future__ import annotations

import json
import random
import shutil
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from faults import checker, nemesis
from faults.cluster import FaultCluster
from faults.history import History
from faults.workloads import ROWS, MetadataWorkload, QueueWorkload

RUNS = Path(__file__).resolve().parent / "runs"
HEAL_SETTLE_S = 3.0


@dataclass
class Options:
    seed: int
    time_s: float = 30.0
    nodes: int = 3
    workload: str = "queue"
    row: str = "default"
    # Check against another row's promise than the topic's (a mutant: e.g. a
    # write.caching=true topic held to the default row's zero loss).
    check_as: str | None = None
    replication_factor: int = 1
    kinds: list[str] = field(default_factory=lambda: list(nemesis.KINDS))
    schedule: list[dict[str, Any]] | None = None  # given: a replay
    keep: bool = False
    overrides: dict[str, str] = field(default_factory=dict)  # broker settings (mutants)


def run(options: Options, runs_dir: Path = RUNS) -> dict[str, Any]:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = runs_dir / f"{stamp}-{options.workload}-{options.row}-{options.seed}"
    out.mkdir(parents=True, exist_ok=False)
    schedule = options.schedule
    if schedule is None:
        schedule = nemesis.generate(
            options.seed, options.time_s, options.nodes, tuple(options.kinds)
        )
    (out / "run.json").write_text(json.dumps({**asdict(options), "schedule": schedule}, indent=1))
    history = History()
    cluster = FaultCluster(out, options.nodes, overrides=options.overrides)
    rng = random.Random(options.seed)
    verdict: dict[str, Any]
    try:
        cluster.start()
        cluster.wait_for_leader(timeout_s=60)
        workload: MetadataWorkload | QueueWorkload
        if options.workload == "metadata":
            workload = MetadataWorkload(cluster, history, options.seed)
        else:
            workload = QueueWorkload(
                cluster,
                history,
                options.seed,
                row=ROWS[options.row],
                replication_factor=options.replication_factor,
            )
        workload.setup()
        workload.start()
        begin = time.monotonic()
        for fault in schedule:
            _sleep_until(begin + fault["at"])
            nemesis.start(cluster, fault, history, rng)
            _sleep_until(begin + fault["at"] + fault["duration"])
            nemesis.stop(cluster, fault, history)
        _sleep_until(begin + options.time_s)
        history.add("nemesis", "info", "final-heal", None)
        cluster.heal()
        time.sleep(HEAL_SETTLE_S)
        workload.finish()
        final = workload.final_read()
        (out / "final.json").write_text(json.dumps(final, indent=1))
        history.save(out / "history.jsonl")
        if isinstance(workload, MetadataWorkload):
            verdict = checker.check_metadata(history.events, final)
        else:
            row = ROWS[options.check_as or options.row]
            verdict = checker.check_queue(history.events, final, row)
    except Exception as exc:
        history.save(out / "history.jsonl")
        verdict = {"valid": None, "error": f"{type(exc).__name__}: {exc}"}
        (out / "error.txt").write_text(traceback.format_exc())
    finally:
        cluster.close()
    verdict["faults"] = [
        e["value"] for e in history.events if e["process"] == "nemesis" and e["f"] == "start"
    ]
    verdict["dir"] = str(out)
    (out / "verdict.json").write_text(json.dumps(verdict, indent=1))
    if verdict.get("valid") is True and not options.keep:
        for node in cluster.nodes.values():
            shutil.rmtree(node.data_dir, ignore_errors=True)
    return verdict


def _sleep_until(deadline: float) -> None:
    left = deadline - time.monotonic()
    if left > 0:
        time.sleep(left)


def replay_options(run_dir: Path) -> Options:
    raw = json.loads((run_dir / "run.json").read_text())
    return Options(**raw)
