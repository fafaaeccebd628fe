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
import sys
from collections.abc import Sequence

from broker.raft.rng import SplitMix64
from broker.raft.sim import SimOptions, SimResult, Simulation
from broker.raft.types import RaftConfig


def options_for_seed(
    seed: int, nodes: int | None, steps: int, bug: str, profile: str = "mixed"
) -> SimOptions:
    """Each seed also draws its own fault mix and timeouts, so that the
    batch covers gentle and hostile networks, long and short timeouts.  A
    quarter of the "mixed" seeds (all of "hostile") use the hostile profile:
    no pre-vote, short timeouts, one record per fetch, frequent crashes and
    faults aimed right after votes, elections and commits."""
    rng = SplitMix64(seed ^ 0x5EED_0F_0A7)
    n = nodes if nodes is not None else 3 + rng.randrange(3)
    voters = n if n <= 3 else 3 + rng.randrange(n - 2)
    if profile == "hostile" or (profile == "mixed" and rng.randrange(4) == 0):
        return SimOptions(
            nodes=n,
            voters=voters,
            steps=steps,
            crash=2.0,
            targeted=0.5,
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
        drop=rng.choice((0.0, 0.05, 0.2)),
        duplicate=rng.choice((0.0, 0.03, 0.1)),
        crash=rng.choice((0.2, 0.6, 2.0)),
        partition=rng.choice((0.2, 0.6, 1.5)),
        targeted=rng.choice((0.05, 0.2, 0.5)),
        config=config,
    )


def run_seed(
    seed: int,
    nodes: int | None = None,
    steps: int = 1500,
    bug: str = "",
    profile: str = "mixed",
) -> SimResult:
    return Simulation(seed, options_for_seed(seed, nodes, steps, bug, profile)).run()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m broker.raft.simulate")
    parser.add_argument("--seeds", type=int, required=True)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--nodes", type=int, default=None)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--bug", default="", help="inject a known bug (for demonstration)")
    parser.add_argument("--profile", default="mixed", choices=("mixed", "hostile", "gentle"))
    parser.add_argument("--trace", action="store_true", help="print the whole trace of failures")
    parser.add_argument("--tail", type=int, default=40, help="trace lines shown per failure")
    args = parser.parse_args(argv)
    violations = 0
    recovery: list[int] = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        result = run_seed(seed, args.nodes, args.steps, args.bug, args.profile)
        if result.violation is None:
            recovery.append(result.recovery_rounds)
            continue
        violations += 1
        print(f"seed={seed} step={result.steps} VIOLATION: {result.violation}")
        lines = result.trace if args.trace else result.trace[len(result.trace) - args.tail :]
        for line in lines:
            print(f"  {line}")
        print(
            f"  replay: python -m broker.raft.simulate --seeds 1 --first-seed {seed}"
            + (f" --nodes {args.nodes}" if args.nodes is not None else "")
            + (f" --bug {args.bug}" if args.bug else "")
            + (f" --profile {args.profile}" if args.profile != "mixed" else "")
            + " --trace"
        )
    if recovery:
        recovery.sort()
        print(
            "rounds from end of faults to a commit on every node: "
            f"median={recovery[len(recovery) // 2]} "
            f"p99={recovery[len(recovery) * 99 // 100]} max={recovery[-1]}"
        )
    print(f"seeds={args.seeds} violations={violations}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
