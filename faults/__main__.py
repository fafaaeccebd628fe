"""``python -m faults run|replay|check`` (docs/faults.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from faults import checker, nemesis
from faults.history import History
from faults.runner import RUNS, Options, replay_options, run
from faults.workloads import ROWS


def _summary(verdict: dict[str, Any]) -> str:
    faults = ",".join(str(f["kind"]) for f in verdict.get("faults", []))
    state = {True: "valid", False: "VIOLATION", None: "ERROR"}[verdict.get("valid")]
    detail = verdict.get("violations") or verdict.get("error") or ""
    return f"{state} stats={json.dumps(verdict.get('stats'))} faults=[{faults}] {detail or ''} -> {verdict['dir']}"


def summary_table(dirs: list[Path]) -> str:
    """One row per run: what ran, which faults, what the checker found."""
    lines = [
        "| run | workload | row | nodes | seed | s | faults | acked | lost (allowed) | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in sorted(dirs):
        if not (d / "verdict.json").exists():
            continue
        opts = json.loads((d / "run.json").read_text())
        verdict = json.loads((d / "verdict.json").read_text())
        stats = verdict.get("stats") or {}
        kinds = ", ".join(str(f["kind"]) for f in verdict.get("faults", []))
        if verdict.get("valid") is None:
            state = f"ERROR: {verdict.get('error', '')[:80]}"
        elif verdict["valid"]:
            state = "valid"
        else:
            state = "VIOLATION: " + ", ".join(
                f"{k} x{v['count']}" for k, v in verdict["violations"].items()
            )
        row = opts["row"] + (f" (as {opts['check_as']})" if opts.get("check_as") else "")
        if opts["workload"] == "metadata":
            row = "-"
        lost = f"{stats.get('lost', 0)} ({stats.get('lost-allowed', 0)})"
        lines.append(
            f"| {d.name} | {opts['workload']} | {row} | {opts['nodes']} | {opts['seed']} "
            f"| {opts['time_s']:.0f} | {kinds} | {stats.get('acknowledged', '-')} | {lost} "
            f"| {state} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faults")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="randomized runs")
    r.add_argument("--seeds", type=int, default=1, help="how many seeds (first, first+1, ...)")
    r.add_argument("--first-seed", type=int, default=1)
    r.add_argument("--time", type=float, default=30.0, help="seconds of faults per run")
    r.add_argument("--nodes", type=int, choices=(3, 5), default=3)
    r.add_argument("--workload", choices=("queue", "metadata"), default="queue")
    r.add_argument("--row", choices=sorted(ROWS), default="default")
    r.add_argument("--check-as", choices=sorted(ROWS), help="hold the run to another row's promise")
    r.add_argument("--rf", type=int, default=1, help="replication factor of the queue topic")
    r.add_argument("--nemesis", default=",".join(nemesis.KINDS), help="comma-separated kinds")
    r.add_argument("--override", action="append", default=[], help="broker KEY=VALUE (a mutant)")
    r.add_argument("--keep", action="store_true", help="keep data dirs of valid runs")
    r.add_argument("--runs-dir", type=Path, default=RUNS)
    p = sub.add_parser("replay", help="rerun a recorded run's schedule")
    p.add_argument("dir", type=Path)
    p.add_argument("--runs-dir", type=Path, default=RUNS)
    c = sub.add_parser("check", help="check a recorded history again")
    c.add_argument("dir", type=Path)
    c.add_argument("--as", dest="as_row", choices=sorted(ROWS), help="check against this row")
    s = sub.add_parser("summary", help="a Markdown table of recorded runs")
    s.add_argument("dirs", type=Path, nargs="+")
    args = parser.parse_args(argv)

    if args.command == "summary":
        print(summary_table(args.dirs))
        return 0

    if args.command == "check":
        raw = json.loads((args.dir / "run.json").read_text())
        history = History.load(args.dir / "history.jsonl")
        final = json.loads((args.dir / "final.json").read_text())
        if raw["workload"] == "metadata":
            verdict = checker.check_metadata(history, final)
        else:
            row = args.as_row or raw.get("check_as") or raw["row"]
            verdict = checker.check_queue(history, final, ROWS[row])
        print(json.dumps(verdict, indent=1))
        return 0 if verdict["valid"] else 1

    if args.command == "replay":
        verdicts = [run(replay_options(args.dir), args.runs_dir)]
    else:
        kinds = [k for k in args.nemesis.split(",") if k]
        unknown = set(kinds) - set(nemesis.KINDS)
        if unknown:
            parser.error(f"unknown nemesis {sorted(unknown)}; known: {', '.join(nemesis.KINDS)}")
        overrides = dict(o.split("=", 1) for o in args.override)
        verdicts = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            options = Options(
                seed=seed,
                time_s=args.time,
                nodes=args.nodes,
                workload=args.workload,
                row=args.row,
                check_as=args.check_as,
                replication_factor=args.rf,
                kinds=kinds,
                keep=args.keep,
                overrides=overrides,
            )
            verdict = run(options, args.runs_dir)
            print(f"seed {seed}: {_summary(verdict)}", flush=True)
            verdicts.append(verdict)
    if args.command == "replay":
        print(_summary(verdicts[0]))
    bad = [v for v in verdicts if v.get("valid") is not True]
    print(f"{len(verdicts)} runs, {len(bad)} not valid")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
