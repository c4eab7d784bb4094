"""Issue #14, deviation 6: how should Dreamer act when asked to act deterministically?

One training run of a suite entry (exactly as ``rrl-bench run`` trains it), evaluated at every evaluation point in
three ways on the same episodes:

- ``mode_latent``: the posterior latent's mode and the actor's mode (``deterministic_latent="mode"``, the runner's
  ``deterministic=True`` evaluation, whose numbers go into the run's records as usual);
- ``sampled_latent``: a sampled posterior latent, as in training, and the actor's mode
  (``deterministic_latent="sample"``);
- ``stochastic``: sampled latent and sampled action (``deterministic=False``).

The extra evaluations restore torch's random state afterwards, so training is the one the runner would do, and are
not counted in the training time. The run is saved in the results directory like any run (``rrl-bench report`` reads
it), and checkpointed like one: run again after an interruption, it resumes. The extra evaluations are in each record
under ``"acting"``.

    python benchmarks/tools/dreamer_acting.py benchmarks/suites/dreamer_critic.yml --label dreamer_v3_critic \\
        --env rrl_sb3/CartPoleNoVel-v1 --seed 2 --results benchmarks/results/dreamer_critic
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch as th

from rrl_sb3.benchmark.runner import run_one
from rrl_sb3.benchmark.suite import Suite
from rrl_sb3.benchmark.worker import EvalRecorder


class ActingModesRecorder(EvalRecorder):
    """:class:`EvalRecorder` that also evaluates with a sampled latent, and fully stochastically."""

    def evaluate(self, n_episodes: int | None = None) -> dict[str, Any]:
        record = super().evaluate(n_episodes)
        rng = th.get_rng_state()
        policy = self.model.policy
        acting = {"mode_latent": record["mean_return"]}
        for name, latent, deterministic in (("sampled_latent", "sample", True), ("stochastic", "mode", False)):
            policy.deterministic_latent = latent
            returns, _ = self.episodes(n_episodes or self.n_eval_episodes, deterministic)
            acting[name] = float(np.mean(returns))
        policy.deterministic_latent = "mode"
        th.set_rng_state(rng)
        record["acting"] = acting
        print(f"    acting modes at {record['env_steps']}: {acting}", flush=True)
        return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite")
    parser.add_argument("--label", required=True)
    parser.add_argument("--env", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--results", required=True)
    args = parser.parse_args()
    run = Suite.from_file(args.suite).plan().find(args.label, args.env, args.seed)
    result = run_one(run, args.results, recorder_class=ActingModesRecorder)
    print(result.status, result.error or "")


if __name__ == "__main__":
    main()
