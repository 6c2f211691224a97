"""`python -m dreamrig eval SPEC --out DIR`: `dreamrig eval` in a Python process, so that
the spec's `python: module:callable` policies run (the `dreamrig` binary does not embed Python).

Exit codes as the `dreamrig` command's: 0 done, 1 failed while running, 2 bad input, 130
interrupted (finish with --resume).
"""

from __future__ import annotations

import argparse
import sys

from . import DreamrigError, EvaluationError, ScenarioError, evaluate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dreamrig", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("eval", help="evaluate policies × scenarios × seeds; write tables and a report")
    run.add_argument("spec", help="evaluation spec (YAML)")
    run.add_argument("--out", required=True, help="run folder for the journal, tables and report")
    run.add_argument("--threads", type=int, help="worker threads (default: all cores); results do not depend on it")
    run.add_argument("--resume", action="store_true", help="finish an interrupted run in --out")
    run.add_argument("--dynamics", help="physics, learned:MODEL.json or hybrid:MODEL.json for every scenario")
    run.add_argument("--seed", type=int, help="replace the spec's master seed")
    run.add_argument("--record-dataset", metavar="DIR", help="also write the episodes as LeRobot v3.0 datasets in DIR/<scenario>")
    args = parser.parse_args(argv)
    try:
        rows = evaluate(
            args.spec,
            args.out,
            threads=args.threads,
            resume=args.resume,
            dynamics=args.dynamics,
            seed=args.seed,
            record_dataset=args.record_dataset,
        )
    except KeyboardInterrupt as interrupted:
        print(f"{interrupted}", file=sys.stderr)
        return 130
    except (EvaluationError, ScenarioError, ValueError, TypeError, OverflowError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except DreamrigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"results in {args.out}")
    print(f"{'scenario':<20} {'policy':<24} {'rank':>4} {'success [95% CI]':>22} {'mean return':>12}")
    for s in rows:
        print(
            f"{s['scenario']:<20} {s['policy']:<24} {s['rank']:>4} {100 * s['success_rate']:>6.1f}% "
            f"[{100 * s['success_ci_low']:>5.1f}, {100 * s['success_ci_high']:>5.1f}] {s['mean_return']:>12.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
