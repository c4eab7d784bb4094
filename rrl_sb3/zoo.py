"""rl-zoo3 as a client: train, tune (``-optimize``) and enjoy rrl_sb3's algorithms with rl-zoo3's own scripts.

:func:`register` adds to rl-zoo3's tables (``rl_zoo3.utils.ALGOS``, ``rl_zoo3.hyperparams_opt.HYPERPARAMS_SAMPLER`` and
``HYPERPARAMS_CONVERTER``):

- ``dreamer``: :class:`rrl_sb3.Dreamer`, searched as ``rrl-bench tune`` searches ``dreamer``;
- ``recurrent_sac``: :class:`rrl_sb3.RecurrentSAC` (search space ``recurrent_sac``);
- ``reinforce``: :class:`rrl_sb3.REINFORCE` (search space ``reinforce_gru``);
- ``ppo_gru``: :class:`RecurrentPPOGru`, sb3-contrib's RecurrentPPO that also takes the names ``MlpGruPolicy``,
  ``CnnGruPolicy`` and ``MultiInputGruPolicy`` (search space ``recurrent_ppo_gru``).

The search spaces are those of ``rrl-bench tune`` (:mod:`rrl_sb3.benchmark.search_spaces`). rl-zoo3 replaces the
entry's ``policy_kwargs`` by the sampled ones (``rrl-bench tune`` merges them key by key).

rl-zoo3's ``train`` fixes its ``--algo`` choices when its parser is built, before ``--gym-packages`` are imported, so
``register()`` must run first: from Python, or with this module as the entry point, which takes rl-zoo3's arguments
unchanged::

    python -m rrl_sb3.zoo train --algo dreamer --env rrl_sb3/PendulumNoVel-v1 -conf benchmarks/hyperparams/dreamer.yml \\
        -optimize --n-trials 20 --n-timesteps 20000
    python -m rrl_sb3.zoo enjoy --algo dreamer --env rrl_sb3/PendulumNoVel-v1 -f logs/

or::

    import rrl_sb3.zoo
    from rl_zoo3.train import train

    rrl_sb3.zoo.register()
    train()  # reads sys.argv, as `python -m rl_zoo3.train` does
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from sb3_contrib import RecurrentPPO

from rrl_sb3.dreamer import Dreamer
from rrl_sb3.policies import GRU_POLICY_ALIASES
from rrl_sb3.reinforce import REINFORCE
from rrl_sb3.sac import RecurrentSAC

ZOO_INSTALL_HINT = 'pip install "rrl-sb3[benchmark]"  (or: pip install rl_zoo3 optuna)'


class RecurrentPPOGru(RecurrentPPO):
    """sb3-contrib's RecurrentPPO, unchanged, whose ``policy`` may also name rrl_sb3's GRU policies (rl-zoo3 passes the
    yml's ``policy`` string to the constructor, which only knows its class's aliases)."""

    policy_aliases = {**RecurrentPPO.policy_aliases, **GRU_POLICY_ALIASES}  # noqa: RUF012  (as SB3 declares them)


#: rl-zoo3 ``--algo`` name -> (class, search space of :mod:`rrl_sb3.benchmark.search_spaces`)
ZOO_ALGOS: dict[str, tuple[type, str]] = {
    "dreamer": (Dreamer, "dreamer"),
    "recurrent_sac": (RecurrentSAC, "recurrent_sac"),
    "reinforce": (REINFORCE, "reinforce_gru"),
    "ppo_gru": (RecurrentPPOGru, "recurrent_ppo_gru"),
}


#: rl-zoo3 ``--algo`` name -> the packaged settings file (``rrl_sb3/hyperparams/<stem>.yml``) that ``train`` reads
#: without ``-conf``: always for our algorithms (rl-zoo3 has no file for them; the stem is the benchmark name their
#: search space also goes by), and for rl-zoo3's own only when the file has an entry for the env id (otherwise
#: rl-zoo3's own file, as without rrl_sb3).
ZOO_HYPERPARAMS: dict[str, str] = {
    **{name: benchmark_name for name, (_, benchmark_name) in ZOO_ALGOS.items()},
    "ppo_lstm": "recurrent_ppo_lstm",
    "ppo": "ppo",
    "sac": "sac",
}


def default_conf_file(algo: str, env_id: str) -> Path | None:
    """The packaged settings file ``python -m rrl_sb3.zoo train --algo algo --env env_id`` reads without ``-conf``, or
    ``None`` to leave rl-zoo3's default (its own ``hyperparams/<algo>.yml``)."""
    from rrl_sb3.benchmark.hyperparams import PACKAGED_HYPERPARAMS_DIR, load_yaml

    if algo not in ZOO_HYPERPARAMS:
        return None
    path = PACKAGED_HYPERPARAMS_DIR / f"{ZOO_HYPERPARAMS[algo]}.yml"
    if algo in ZOO_ALGOS or env_id in (load_yaml(path) or {}):
        return path
    return None


def _with_default_conf(args: list[str]) -> list[str]:
    """rl-zoo3 ``train`` arguments, plus ``-conf <packaged file>`` where the user gave none and one applies."""
    import argparse

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--algo", default="ppo")  # rl-zoo3's defaults
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("-conf", "--conf-file", default=None)
    known, _ = parser.parse_known_args(args)
    if known.conf_file is not None:
        return args
    path = default_conf_file(known.algo, known.env)
    return args if path is None else [*args, "-conf", str(path)]


class ZooSampler(Protocol):
    """rl-zoo3's sampler signature (its ``HYPERPARAMS_SAMPLER`` values)."""

    def __call__(self, trial: Any, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]: ...


class ZooConverter(Protocol):
    """rl-zoo3's converter signature (its ``HYPERPARAMS_CONVERTER`` values)."""

    def __call__(self, sampled_params: Mapping[str, Any]) -> dict[str, Any]: ...


def zoo_sampler(space: str) -> ZooSampler:
    """The search space ``space`` with rl-zoo3's sampler signature ``(trial, n_actions, n_envs, additional_args)``."""
    from rrl_sb3.benchmark.search_spaces import SEARCH_SPACES

    sample = SEARCH_SPACES[space]

    def sampler(trial: Any, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
        return sample(trial, {"n_envs": n_envs})

    sampler.__name__ = f"sample_{space}_params"
    return sampler


def zoo_converter(space: str) -> ZooConverter:
    """A study's parameters -> the settings they stand for (rl-zoo3's ``HYPERPARAMS_CONVERTER``, used when it trains
    from a stored study's best trial): the search space replayed on those parameters."""
    from rrl_sb3.benchmark.search_spaces import SEARCH_SPACES

    sample = SEARCH_SPACES[space]

    def converter(sampled_params: Mapping[str, Any]) -> dict[str, Any]:
        import optuna

        return sample(optuna.trial.FixedTrial(dict(sampled_params)), {"n_envs": sys.maxsize})  # batch sizes as drawn

    return converter


def register() -> list[str]:
    """Add rrl_sb3's algorithms and their search spaces to rl-zoo3 (safe to call again); returns their ``--algo`` names.

    :raises ImportError: without rl-zoo3 (and Optuna), naming the extra to install
    """
    try:
        from rl_zoo3 import hyperparams_opt, utils
    except ImportError as error:
        raise ImportError(f"rrl_sb3.zoo needs rl-zoo3: {ZOO_INSTALL_HINT}") from error
    for name, (cls, space) in ZOO_ALGOS.items():
        utils.ALGOS[name] = cls
        hyperparams_opt.HYPERPARAMS_SAMPLER[name] = zoo_sampler(space)
        hyperparams_opt.HYPERPARAMS_CONVERTER[name] = zoo_converter(space)
    return list(ZOO_ALGOS)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m rrl_sb3.zoo train|enjoy [rl-zoo3's arguments]``: register, then run rl-zoo3's script."""
    args = list(sys.argv[1:] if argv is None else argv)
    scripts = ("train", "enjoy")
    if not args or args[0] not in scripts:
        raise SystemExit(f"usage: python -m rrl_sb3.zoo {{{','.join(scripts)}}} [rl-zoo3's arguments]; got {args[:1]}")
    register()
    import importlib

    script = importlib.import_module(f"rl_zoo3.{args[0]}")
    rest = _with_default_conf(args[1:]) if args[0] == "train" else args[1:]
    sys.argv = [f"rl_zoo3.{args[0]}", *rest]
    getattr(script, args[0])()


if __name__ == "__main__":
    main()
