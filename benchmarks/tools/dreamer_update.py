"""Time (and profile) Dreamer's gradient update, and fingerprint it, outside the training loop.

    python benchmarks/tools/dreamer_update.py --env rrl_sb3/PendulumNoVel-v1 --updates 30
    python benchmarks/tools/dreamer_update.py --env rrl_sb3/CartPoleNoVel-v1 --profile
    python benchmarks/tools/dreamer_update.py --fingerprint     # losses and a hash of the weights after 5 updates

The replay buffer is filled with ``--prefill`` env steps of random actions (seeded), then ``--updates`` updates are
timed one by one, after ``--warmup`` untimed ones, on one torch thread. The median and quartiles of the milliseconds
per update and the CPU seconds of the whole timed part are printed. Compare two versions of the code side by side (same
run of the machine) with ``farm-bench``: the machine is shared, so only ratios measured together mean anything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time

import numpy as np
import torch as th

from rrl_sb3 import Dreamer


def build(env_id: str, prefill: int, seed: int, hyperparams: dict) -> Dreamer:
    model = Dreamer(env_id, seed=seed, learning_starts=prefill, **hyperparams)
    model.learn(prefill)  # random actions only: no update before learning_starts
    return model


def weights_hash(model: Dreamer) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.policy.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="rrl_sb3/PendulumNoVel-v1")
    parser.add_argument("--prefill", type=int, default=2000)
    parser.add_argument("--updates", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hyperparams", default="{}", help="Dreamer keyword arguments as JSON")
    parser.add_argument("--profile", action="store_true", help="print torch.profiler's table of the timed updates")
    parser.add_argument("--fingerprint", action="store_true", help="print losses and a weight hash after 5 updates")
    args = parser.parse_args()
    th.set_num_threads(1)
    hyperparams = json.loads(args.hyperparams)
    model = build(args.env, args.prefill, args.seed, hyperparams)
    model.policy.set_training_mode(True)
    if args.fingerprint:
        th.manual_seed(args.seed)
        model.replay_buffer._rng = np.random.default_rng(args.seed)  # type: ignore[union-attr]
        losses = [model._update() for _ in range(5)]
        print(json.dumps({k: f"{v:.9g}" for k, v in losses[-1].items()}))
        print("weights", weights_hash(model))
        return
    for _ in range(args.warmup):
        model._update()
    times = []
    cpu_start = time.process_time()
    profiler = th.profiler.profile(activities=[th.profiler.ProfilerActivity.CPU]) if args.profile else None
    if profiler is not None:
        profiler.__enter__()
    for _ in range(args.updates):
        start = time.perf_counter()
        model._update()
        times.append(1000 * (time.perf_counter() - start))
    if profiler is not None:
        profiler.__exit__(None, None, None)
    cpu = time.process_time() - cpu_start
    q1, median, q3 = np.percentile(times, [25, 50, 75])
    print(f"{args.env}: {median:.1f} ms per update (quartiles {q1:.1f}-{q3:.1f}), {cpu:.1f} CPU s for {args.updates}")
    if profiler is not None:
        print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()
