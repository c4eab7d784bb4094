"""Does ``torch.compile`` make Dreamer's update cheaper on this CPU? Times the update eager and compiled.

    python benchmarks/tools/dreamer_compile.py --mode eager
    python benchmarks/tools/dreamer_compile.py --mode imagination --precision bf16
    python benchmarks/tools/dreamer_compile.py --mode modules

Modes: ``eager`` (as the package runs); ``modules`` (each MLP, the GRU cell and the encoder/decoder compiled on its
own, static shapes); ``imagination`` (the whole imagined rollout, 15 steps of actor and dynamics, compiled as one
graph, forward and backward). The first ``--warmup`` updates pay for compilation (their CPU and wall seconds are
printed; inductor's compiler workers are other processes, so the wall time is the honest cost), then ``--updates``
updates are timed one by one on one torch thread. Run the modes one after the other in one window: only their ratio
means anything on a shared machine. This is a measurement, not an option of the package: see
``benchmarks/results/dreamer_compute/README.md`` for what it found.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch as th
from dreamer_update import build  # the sibling tool's prefilled model (this script's folder is on sys.path)

from rrl_sb3 import Dreamer
from rrl_sb3.dreamer import behavior


def compile_modules(model: Dreamer) -> None:
    """Compile each network of the update on its own (the container's ``forward``, static shapes)."""
    th._dynamo.config.cache_size_limit = 64  # one graph per batch shape (acting, filtering, imagination, heads)
    policy, world_model = model.policy, model.policy.world_model
    rssm = world_model.rssm
    modules = [policy.actor.net, policy.critic.net, policy.slow_critic.net, rssm.img_in, rssm.gru, rssm.prior_net]
    modules += [rssm.post_out, world_model.reward_head, world_model.continue_head, world_model.encoder, world_model.decoder]
    for module in modules:
        module.forward = th.compile(module.forward, dynamic=False)  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="rrl_sb3/PendulumNoVel-v1")
    parser.add_argument("--mode", choices=["eager", "modules", "imagination"], default="eager")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--prefill", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--hyperparams", default="{}", help="Dreamer keyword arguments as JSON (on top of the defaults)")
    args = parser.parse_args()
    th.set_num_threads(1)
    model = build(args.env, args.prefill, 0, {"precision": args.precision, **json.loads(args.hyperparams)})
    if args.mode == "modules":
        compile_modules(model)
    elif args.mode == "imagination":
        # behavior_losses looks imagine up in its module at each call
        behavior.imagine = th.compile(behavior.imagine, dynamic=False)  # type: ignore[assignment]
    model.policy.set_training_mode(True)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(args.warmup):
        model._update()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    times = []
    for _ in range(args.updates):
        start = time.perf_counter()
        model._update()
        times.append(1000 * (time.perf_counter() - start))
    q1, median, q3 = np.percentile(times, [25, 50, 75])
    print(
        f"{args.env} {args.mode} {args.precision}: {median:.1f} ms per update (quartiles {q1:.1f}-{q3:.1f}); "
        f"first {args.warmup} updates (compilation): {wall:.1f} s wall, {cpu:.1f} CPU s in this process"
    )


if __name__ == "__main__":
    main()
