"""Run the deterministic Raft simulation over many seeds.

    python -m broker.raft.simulate --seeds N [--first-seed S] [--nodes K]

Each seed builds a quorum of K nodes (3 to 5, chosen by the seed, when K is
not given), runs an adversarial schedule, then checks liveness.  The last
line is ``seeds=N violations=V``; the exit status is 1 if V > 0.  A failing
seed prints its violation and the tail of its trace, and replays exactly
with ``--first-seed <seed> --seeds 1 --trace``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace

from broker.raft.rng import SplitMix64
from broker.raft.sim import SimDisk, SimOptions, SimResult, Simulation
from broker.raft.types import RaftConfig


def options_for_seed(
    seed: int,
    nodes: int | None,
    steps: int,
    bug: str,
    profile: str = "mixed",
    data_partition: bool = False,
) -> SimOptions:
    options = _options_for_seed(seed, nodes, steps, bug, profile)
    if not data_partition:
        return options
    config = replace(options.config, state_machine=False)
    return replace(options, data_partition=True, config=config)


def _options_for_seed(
    seed: int, nodes: int | None, steps: int, bug: str, profile: str
) -> SimOptions:
    """Each seed also draws its own fault mix and timeouts, so that the
    batch covers gentle and hostile networks, long and short timeouts.  A
    quarter of the "mixed" seeds (all of "hostile") use the hostile profile:
    no pre-vote, short timeouts, one record per fetch, frequent crashes and
    faults aimed right after votes, elections and commits."""
    rng = SplitMix64(seed ^ 0x5EED_0F_0A7)
    n = nodes if nodes is not None else 3 + rng.randrange(3)
    voters = n if n <= 3 else 3 + rng.randrange(n - 2)
    gentle = profile == "gentle"
    # Item 11's hostile host and disk: asynchronous fsyncs (a host that
    # keeps stepping while one runs), lost disks, a minority dead for good.
    async_host = 0.0 if gentle else rng.choice((0.0, 0.2, 0.5, 0.8))
    disk_loss = 0.0 if gentle or voters == n else rng.choice((0.0, 0.3))
    dead_for_good = not gentle and rng.randrange(2) == 0
    snapshot_storm = not gentle and rng.randrange(4) == 0
    stale_delivery = 0.0 if gentle else rng.choice((0.0, 0.0, 0.2))
    if profile == "hostile" or (profile == "mixed" and rng.randrange(4) == 0):
        return SimOptions(
            nodes=n,
            voters=voters,
            steps=steps,
            crash=2.0,
            targeted=0.5,
            async_host=async_host,
            disk_loss=disk_loss,
            dead_for_good=dead_for_good,
            snapshot_storm=snapshot_storm,
            stale_delivery=stale_delivery,
            config=RaftConfig(
                election_timeout=4,
                fetch_timeout=6,
                request_timeout=3,
                max_fetch_records=1,
                pre_vote=False,
                inject_bug=bug,
            ),
        )
    election_timeout = 4 + rng.randrange(9)
    config = RaftConfig(
        election_timeout=election_timeout,
        fetch_timeout=election_timeout + rng.randrange(election_timeout + 1),
        request_timeout=3 + rng.randrange(3),
        max_fetch_records=rng.choice((1, 2, 4, 16)),
        max_snapshot_bytes=rng.choice((16, 64, 1 << 20)),
        pre_vote=rng.randrange(5) != 0,
        inject_bug=bug,
    )
    return SimOptions(
        nodes=n,
        voters=voters,
        steps=steps,
        async_host=async_host,
        disk_loss=disk_loss,
        dead_for_good=dead_for_good,
        snapshot_storm=snapshot_storm,
        stale_delivery=stale_delivery,
        stability_rounds=0 if gentle else 6 * (config.fetch_timeout + 2 * election_timeout),
        drop=rng.choice((0.0, 0.05, 0.2)),
        duplicate=rng.choice((0.0, 0.03, 0.1)),
        crash=rng.choice((0.2, 0.6, 2.0)),
        partition=rng.choice((0.2, 0.6, 1.5)),
        targeted=rng.choice((0.05, 0.2, 0.5)),
        config=config,
    )


LOG_KINDS = ("memory", "partition")


@contextlib.contextmanager
def disk_for(log: str) -> Iterator[SimDisk | None]:
    """``memory``: MemoryLogs (the default, fast). ``partition``: the storage
    engine's PartitionLog in a temporary directory, where a crash cuts every
    file back to its last fsync."""
    if log == "memory":
        yield None
        return
    from broker.replication.raft_log import power_loss_logs  # files: only when asked

    with power_loss_logs() as disk:
        yield disk


def simulate(
    seed: int,
    options: SimOptions,
    skip: frozenset[int] = frozenset(),
    *,
    log: str = "memory",
    liveness: bool = True,
) -> SimResult:
    with disk_for(log) as disk:
        return Simulation(seed, options, skip, disk).run(liveness=liveness)


def run_seed(
    seed: int,
    nodes: int | None = None,
    steps: int = 1500,
    bug: str = "",
    profile: str = "mixed",
    log: str = "memory",
    data_partition: bool = False,
) -> SimResult:
    options = options_for_seed(seed, nodes, steps, bug, profile, data_partition)
    return simulate(seed, options, log=log)


def violation_kind(violation: str) -> str:
    """A failure's kind: its words without numbers, up to the first value."""
    head = violation.split("(")[0]
    return " ".join(w for w in head.split() if not any(c.isdigit() for c in w))


def format_steps(steps: Sequence[int]) -> str:
    ranges: list[str] = []
    for step in steps:
        if ranges and "-" in ranges[-1] and int(ranges[-1].split("-")[1]) == step - 1:
            ranges[-1] = f"{ranges[-1].split('-')[0]}-{step}"
        elif ranges and "-" not in ranges[-1] and int(ranges[-1]) == step - 1:
            ranges[-1] = f"{ranges[-1]}-{step}"
        else:
            ranges.append(str(step))
    return ",".join(ranges)


def parse_steps(spec: str) -> list[int]:
    steps: list[int] = []
    for part in spec.split(","):
        first, _, last = part.partition("-")
        steps.extend(range(int(first), int(last or first) + 1))
    return steps


def shrink(
    options: SimOptions, result: SimResult, budget: int = 400, log: str = "memory"
) -> tuple[list[int], SimResult]:
    """Delta-debug the schedule: drop chunks of steps while the same kind of
    violation still happens.  Each step has its own random stream, so the
    steps that remain choose the same events (a delivery picks the packet at
    the same index of a possibly different network, so this is a heuristic)."""
    kind = violation_kind(result.violation or "")
    kept = list(range(1, result.steps + 1))
    opts = replace(options, steps=result.steps)
    best = result
    chunks = 2
    while len(kept) >= 2 and budget > 0:
        size = -(-len(kept) // chunks)
        for start in range(0, len(kept), size):
            trial = kept[:start] + kept[start + size :]
            budget -= 1
            skip = frozenset(range(1, result.steps + 1)) - set(trial)
            attempt = simulate(result.seed, opts, skip, log=log, liveness=False)
            if attempt.violation and violation_kind(attempt.violation) == kind:
                kept, best = trial, attempt
                chunks = max(chunks - 1, 2)
                break
            if budget <= 0:
                break
        else:
            if chunks >= len(kept):
                break
            chunks = min(len(kept), chunks * 2)
    return kept, best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m broker.raft.simulate")
    parser.add_argument("--seeds", type=int, required=True)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--nodes", type=int, default=None)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--bug", default="", help="inject a known bug (for demonstration)")
    parser.add_argument("--profile", default="mixed", choices=("mixed", "hostile", "gentle"))
    parser.add_argument(
        "--data-partition",
        action="store_true",
        help="run the core without a state machine (a data partition): hosts delete "
        "log prefixes instead of snapshotting",
    )
    parser.add_argument(
        "--log",
        default="memory",
        choices=LOG_KINDS,
        help="memory (MemoryLog) or partition (the storage engine, files in a temporary "
        "directory, crash = power loss)",
    )
    parser.add_argument("--trace", action="store_true", help="print the whole trace of failures")
    parser.add_argument("--tail", type=int, default=40, help="trace lines shown per failure")
    parser.add_argument("--no-shrink", action="store_true", help="do not minimise failures")
    parser.add_argument(
        "--only-steps", default=None, help="replay only these steps, e.g. 3-17,40 (one seed)"
    )
    args = parser.parse_args(argv)
    violations = 0
    disruptions = 0
    recovery: list[int] = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        options = options_for_seed(
            seed, args.nodes, args.steps, args.bug, args.profile, args.data_partition
        )
        if args.only_steps is not None:
            only = parse_steps(args.only_steps)
            options = replace(options, steps=max(only))
            skip = frozenset(range(1, max(only) + 1)) - set(only)
            result = simulate(seed, options, skip, log=args.log, liveness=False)
        else:
            result = simulate(seed, options, log=args.log)
        disruptions += result.disruptions
        if result.violation is None:
            recovery.append(result.recovery_rounds)
            continue
        violations += 1
        print(f"seed={seed} step={result.steps} VIOLATION: {result.violation}", flush=True)
        replay = (
            f"python -m broker.raft.simulate --seeds 1 --first-seed {seed}"
            + (f" --nodes {args.nodes}" if args.nodes is not None else "")
            + (f" --steps {args.steps}" if args.steps != 1500 else "")
            + (f" --bug {args.bug}" if args.bug else "")
            + (f" --profile {args.profile}" if args.profile != "mixed" else "")
            + (f" --log {args.log}" if args.log != "memory" else "")
            + (" --data-partition" if args.data_partition else "")
        )
        if not args.no_shrink and args.only_steps is None and result.recovery_rounds < 0:
            kept, small = shrink(options, result, log=args.log)
            print(f"  minimal trace: {len(kept)} of {result.steps} steps still fail:")
            lines = small.trace
            replay += f" --only-steps {format_steps(kept)}"
        else:
            lines = result.trace if args.trace else result.trace[len(result.trace) - args.tail :]
        for line in lines:
            print(f"  {line}")
        print(f"  replay: {replay} --trace")
    if recovery:
        recovery.sort()
        print(
            "rounds from end of faults to a commit on every node: "
            f"median={recovery[len(recovery) // 2]} "
            f"p99={recovery[len(recovery) * 99 // 100]} max={recovery[-1]}"
        )
    print(
        f"healthy leaders deposed: {disruptions} ({disruptions / max(1, args.seeds):.2f} per seed)"
    )
    print(f"seeds={args.seeds} violations={violations}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
