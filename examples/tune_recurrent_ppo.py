"""Tune RecurrentPPO with the GRU policy on CartPole without velocities, from Python, then train the best settings on
3 seeds next to the tuned defaults (rl-zoo3's settings for the LSTM policy, with a GRU).

    python examples/tune_recurrent_ppo.py         # 16 trials x 30,000 steps, then 2 settings x 3 seeds
    python examples/tune_recurrent_ppo.py --trials 2 --steps 2000 --results runs/tune_small

Each trial is a run of the benchmark protocol on a local process pool; the median pruner stops trials whose periodic
evaluation falls below the median of earlier trials' at the same point. Running the script again continues the study
(``study.db`` in the results directory) and skips the comparison runs that finished. The same from the command line::

    rrl-bench tune --algo recurrent_ppo_gru --env rrl_sb3/CartPoleNoVel-v1 --trials 16 --budget 30000 --results runs/tune
    rrl-bench run --algos recurrent_ppo_gru --envs rrl_sb3/CartPoleNoVel-v1 --hyperparams runs/tune/best --steps 30000
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rrl_sb3.benchmark import AlgoEntry, Suite, run_suite, write_report
from rrl_sb3.benchmark.tune import tune

ENV_ID = "rrl_sb3/CartPoleNoVel-v1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16, help="finished trials of the study")
    parser.add_argument("--steps", type=int, default=30_000, help="env steps per trial and per comparison run")
    parser.add_argument("--results", type=Path, default=Path("runs/tune_recurrent_ppo"))
    parser.add_argument("--workers", type=int, default=None, help="trials at a time (default: the cores)")
    args = parser.parse_args()

    eval_freq = max(1, args.steps // 5)
    outcome = tune(
        "recurrent_ppo_gru",
        ENV_ID,
        n_trials=args.trials,
        budget=args.steps,
        results_dir=args.results / "study",
        workers=args.workers,
        eval_freq=eval_freq,
    )
    if outcome.best_file is None:
        raise SystemExit(f"no trial completed; see {args.results / 'study' / 'trials'}")
    # the best settings and the defaults, 3 seeds each: the best file holds only this env's entry, so both entries
    # read their settings through suite-level overrides of the same algorithm
    best = Suite(algos=["recurrent_ppo_gru"], envs=[ENV_ID], hyperparams_dir=outcome.best_file.parent).plan().runs[0]
    suite = Suite(
        algos=[
            AlgoEntry("recurrent_ppo_gru", label="defaults"),
            AlgoEntry("recurrent_ppo_gru", label="tuned", hyperparams=best.hyperparams),
        ],
        envs=[ENV_ID],
        seeds=[0, 1, 2],
        n_timesteps=args.steps,
        eval_freq=eval_freq,
        name="tuned_vs_defaults",
    )
    run_suite(suite, args.results / "comparison", workers=args.workers, verbose=False)
    write_report(args.results / "comparison")  # prints the table; writes report.md and the plot


if __name__ == "__main__":  # required: the process pool starts fresh interpreters that import this file
    main()
