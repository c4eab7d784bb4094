"""Run a small benchmark suite from Python: RecurrentPPO (GRU), REINFORCE (GRU) and memoryless PPO on CartPole
without velocities, 2 seeds, then print the table and write the plot.

    python examples/run_small_suite.py                       # 20,000 steps per run: a few minutes on 2 cores
    python examples/run_small_suite.py --steps 2000 --results runs/small

The runs go through a local process pool (one per core); each evaluation (10 deterministic episodes on an env seeded
``1000 + seed``) is a record in the results directory, where ``report.md`` and the PNG land too. Running the script
again skips the runs that finished. The same suite from the command line::

    rrl-bench run --algos recurrent_ppo_gru reinforce_gru ppo --envs rrl_sb3/CartPoleNoVel-v1 --seeds 0 1 --steps 20000
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rrl_sb3.benchmark import Suite, run_suite, write_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per run")
    parser.add_argument("--eval-freq", type=int, default=2_000, help="env steps between evaluations")
    parser.add_argument("--results", type=Path, default=Path("runs/small_suite"))
    parser.add_argument("--workers", type=int, default=None, help="runs at a time (default: the cores)")
    args = parser.parse_args()

    suite = Suite(
        algos=["recurrent_ppo_gru", "reinforce_gru", "ppo"],
        envs=["rrl_sb3/CartPoleNoVel-v1"],
        seeds=[0, 1],
        n_timesteps=args.steps,
        eval_freq=args.eval_freq,
        name="small_suite",
    )
    outcome = run_suite(suite, args.results, workers=args.workers, verbose=False)
    write_report(args.results)  # prints the table; writes report.md and rrl_sb3-CartPoleNoVel-v1.png
    if not outcome.ok:
        raise SystemExit(f"{len(outcome.failed)} run(s) failed; tracebacks in {args.results}")


if __name__ == "__main__":  # required: the process pool starts fresh interpreters that import this file
    main()
