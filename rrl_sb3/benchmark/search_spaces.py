"""Hyperparameter search spaces, one per registered algorithm, for ``rrl-bench tune`` and rl-zoo3's ``-optimize``.

A search space is a function ``sample(trial, base) -> settings``: it draws from an Optuna trial and returns settings in
the runner's (rl-zoo3's) format, which override the algorithm's entry for the env (``base``, as read from its
hyperparameter file). ``policy_kwargs`` come back as a dict, merged key by key into the entry's own. The ranges are ours,
chosen around each algorithm's defaults and rl-zoo3's tuned values, wide enough to contain both; every draw is named
after the setting it becomes, so a study's parameters read as settings.

What each searches:

- ``ppo``, ``ppo_framestack``: learning_rate, n_steps, batch_size, n_epochs, gamma, gae_lambda, clip_range, ent_coef,
  max_grad_norm;
- ``recurrent_ppo_lstm``, ``recurrent_ppo_gru``: the same, and the recurrent state's size (``lstm_hidden_size`` /
  ``gru_hidden_size``);
- ``reinforce_gru``: learning_rate, n_episodes, gamma, ent_coef, max_grad_norm, ``rnn_hidden_size``;
- ``sac``: learning_rate, batch_size, gamma, tau, train_freq (= gradient_steps), the width of its two layers;
- ``recurrent_sac``: learning_rate, batch_size, sequence_length, gamma, tau, train_freq (= gradient_steps),
  ``rnn_hidden_size``;
- ``dreamer``: learning_rate (world model), actor_learning_rate, critic_learning_rate, train_ratio, horizon, gamma,
  entropy_coef, replay_value_scale.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

SearchSpace = Callable[["optuna.trial.BaseTrial", Mapping[str, Any]], dict[str, Any]]

_GAMMAS = [0.9, 0.95, 0.98, 0.99, 0.995, 0.999]


def _ppo(trial: optuna.trial.BaseTrial, base: Mapping[str, Any], hidden_key: str | None = None) -> dict[str, Any]:
    n_steps = trial.suggest_categorical("n_steps", [32, 64, 128, 256, 512, 1024, 2048])
    batch_size = trial.suggest_categorical("batch_size", [32, 64, 128, 256])
    settings: dict[str, Any] = {
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 3e-3, log=True),
        "n_steps": n_steps,
        # a minibatch cannot be larger than a rollout (n_steps x n_envs), as in rl-zoo3's sampler
        "batch_size": min(batch_size, n_steps * int(base.get("n_envs", 1))),
        "n_epochs": trial.suggest_categorical("n_epochs", [1, 5, 10, 20]),
        "gamma": trial.suggest_categorical("gamma", _GAMMAS),
        "gae_lambda": trial.suggest_categorical("gae_lambda", [0.8, 0.9, 0.92, 0.95, 0.98, 1.0]),
        "clip_range": trial.suggest_categorical("clip_range", [0.1, 0.2, 0.3, 0.4]),
        "ent_coef": trial.suggest_float("ent_coef", 1e-8, 0.1, log=True),
        "max_grad_norm": trial.suggest_categorical("max_grad_norm", [0.3, 0.5, 1.0, 2.0, 5.0]),
    }
    if hidden_key is not None:
        settings["policy_kwargs"] = {hidden_key: trial.suggest_categorical(hidden_key, [32, 64, 128, 256])}
    return settings


def sample_ppo(trial: optuna.trial.BaseTrial, base: Mapping[str, Any]) -> dict[str, Any]:
    """PPO (memoryless, or on stacked frames)."""
    return _ppo(trial, base)


def sample_recurrent_ppo_lstm(trial: optuna.trial.BaseTrial, base: Mapping[str, Any]) -> dict[str, Any]:
    """RecurrentPPO with sb3-contrib's LSTM policy."""
    return _ppo(trial, base, "lstm_hidden_size")


def sample_recurrent_ppo_gru(trial: optuna.trial.BaseTrial, base: Mapping[str, Any]) -> dict[str, Any]:
    """RecurrentPPO with rrl_sb3's GRU policy."""
    return _ppo(trial, base, "gru_hidden_size")


def sample_reinforce(trial: optuna.trial.BaseTrial, base: Mapping[str, Any]) -> dict[str, Any]:
    """REINFORCE with a recurrent policy."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 3e-2, log=True),
        "n_episodes": trial.suggest_categorical("n_episodes", [1, 2, 4, 8, 16, 32]),
        "gamma": trial.suggest_categorical("gamma", [*_GAMMAS, 0.9999]),
        "ent_coef": trial.suggest_float("ent_coef", 1e-8, 0.1, log=True),
        "max_grad_norm": trial.suggest_categorical("max_grad_norm", [0.3, 0.5, 1.0, 2.0, 5.0]),
        "policy_kwargs": {"rnn_hidden_size": trial.suggest_categorical("rnn_hidden_size", [32, 64, 128, 256])},
    }


def _off_policy(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    train_freq = trial.suggest_categorical("train_freq", [1, 2, 4, 8])
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 3e-3, log=True),
        "gamma": trial.suggest_categorical("gamma", _GAMMAS),
        "tau": trial.suggest_categorical("tau", [0.005, 0.01, 0.02, 0.05]),
        "train_freq": train_freq,
        "gradient_steps": train_freq,  # one gradient step per env step, in larger or smaller rounds
    }


def sample_sac(trial: optuna.trial.BaseTrial, base: Mapping[str, Any]) -> dict[str, Any]:
    """SAC with a memoryless MLP."""
    width = trial.suggest_categorical("net_arch_width", [64, 128, 256, 400])
    return {
        **_off_policy(trial),
        "batch_size": trial.suggest_categorical("batch_size", [64, 128, 256, 512]),
        "policy_kwargs": {"net_arch": [width, width]},
    }


def sample_recurrent_sac(trial: optuna.trial.BaseTrial, base: Mapping[str, Any]) -> dict[str, Any]:
    """RecurrentSAC (sequences of ``sequence_length`` steps, ``batch_size`` of them per update)."""
    return {
        **_off_policy(trial),
        "batch_size": trial.suggest_categorical("batch_size", [16, 32, 64]),
        "sequence_length": trial.suggest_categorical("sequence_length", [8, 16, 32, 64]),
        "policy_kwargs": {"rnn_hidden_size": trial.suggest_categorical("rnn_hidden_size", [32, 64, 128, 256])},
    }


def sample_dreamer(trial: optuna.trial.BaseTrial, base: Mapping[str, Any]) -> dict[str, Any]:
    """Dreamer (learning rates of the world model, actor and critic; imagination; the DreamerV3 critic's replay loss)."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-3, log=True),
        "actor_learning_rate": trial.suggest_float("actor_learning_rate", 3e-5, 1e-3, log=True),
        "critic_learning_rate": trial.suggest_float("critic_learning_rate", 3e-5, 1e-3, log=True),
        "train_ratio": trial.suggest_categorical("train_ratio", [8, 16, 32, 64]),
        "horizon": trial.suggest_categorical("horizon", [10, 15, 20]),
        "gamma": trial.suggest_categorical("gamma", [0.97, 0.98, 0.99, 0.997]),
        "entropy_coef": trial.suggest_float("entropy_coef", 1e-4, 1e-2, log=True),
        "replay_value_scale": trial.suggest_categorical("replay_value_scale", [0.0, 0.3]),
    }


#: registered algorithm name -> its search space
SEARCH_SPACES: dict[str, SearchSpace] = {
    "ppo": sample_ppo,
    "ppo_framestack": sample_ppo,
    "recurrent_ppo_lstm": sample_recurrent_ppo_lstm,
    "recurrent_ppo_gru": sample_recurrent_ppo_gru,
    "reinforce_gru": sample_reinforce,
    "sac": sample_sac,
    "recurrent_sac": sample_recurrent_sac,
    "dreamer": sample_dreamer,
}
