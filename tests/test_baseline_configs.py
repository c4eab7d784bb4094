"""The baselines we ship are rl-zoo3's tuned entries verbatim: every key of ours against the installed rl-zoo3's yml.

A key may differ only where the table below names it as a deliberate change (with its reason in the yml file's header).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from rrl_sb3.benchmark.hyperparams import (
    PACKAGED_HYPERPARAMS_DIR,
    load_hyperparams,
    load_yaml,
    parse_number,
    parse_python_literal,
    prepare,
)

HYPERPARAMS = PACKAGED_HYPERPARAMS_DIR

_LSTM_TO_GRU = {
    "policy": "MlpGruPolicy",
    "policy_kwargs.lstm_hidden_size": "policy_kwargs.gru_hidden_size",
    "policy_kwargs.enable_critic_lstm": "policy_kwargs.enable_critic_gru",
}

REMOVED = object()  # a deliberate change that drops rl-zoo3's key
# rl-zoo3's MiniGrid settings (its anchor &minigrid-defaults), changed for the pixel observation of our id
_MINIGRID_PIXELS = {"env_wrapper": REMOVED, "policy": "CnnPolicy", "normalize": {"norm_obs": False}}

# (our file, our env id, rl-zoo3's file, rl-zoo3's env id, deliberate changes: key -> our value, or old key -> new key)
SOURCES = [
    ("recurrent_ppo_lstm", "rrl_sb3/PendulumNoVel-v1", "ppo_lstm", "PendulumNoVel-v1", {}),
    ("recurrent_ppo_lstm", "rrl_sb3/CartPoleNoVel-v1", "ppo_lstm", "CartPoleNoVel-v1", {}),
    ("recurrent_ppo_gru", "rrl_sb3/PendulumNoVel-v1", "ppo_lstm", "PendulumNoVel-v1", _LSTM_TO_GRU),
    ("recurrent_ppo_gru", "rrl_sb3/CartPoleNoVel-v1", "ppo_lstm", "CartPoleNoVel-v1", _LSTM_TO_GRU),
    ("ppo", "Pendulum-v1", "ppo", "Pendulum-v1", {}),
    ("ppo", "CartPole-v1", "ppo", "CartPole-v1", {}),
    ("ppo_framestack", "Pendulum-v1", "ppo", "Pendulum-v1", {"frame_stack": 4}),
    ("ppo_framestack", "CartPole-v1", "ppo", "CartPole-v1", {"frame_stack": 4}),
    ("sac", "Pendulum-v1", "sac", "Pendulum-v1", {}),
    ("ppo", "rrl_sb3/MiniGrid-MemoryS7Pixels-v0", "ppo", "MiniGrid-Empty-Random-5x5-v0", _MINIGRID_PIXELS),
    (
        "recurrent_ppo_gru",
        "rrl_sb3/MiniGrid-MemoryS7Pixels-v0",
        "ppo",
        "MiniGrid-Empty-Random-5x5-v0",
        {**_MINIGRID_PIXELS, "policy": "CnnGruPolicy"},
    ),
]
# POMDP ids without a tuned entry of their own take the entry of their base env (said in each file's header)
_PENDULUM = {"Pendulum-v1": ["rrl_sb3/PendulumNoVel-v1", "rrl_sb3/PendulumNoisy-v1", "rrl_sb3/PendulumFlicker-v1"]}
_CARTPOLE = {"CartPole-v1": ["rrl_sb3/CartPoleNoVel-v1", "rrl_sb3/CartPoleNoisy-v1", "rrl_sb3/CartPoleFlicker-v1"]}
ALIASES = {
    "ppo": {**_PENDULUM, **_CARTPOLE},
    "ppo_framestack": {**_PENDULUM, **_CARTPOLE},
    "sac": _PENDULUM,
    "recurrent_ppo_lstm": {
        "rrl_sb3/PendulumNoVel-v1": ["rrl_sb3/PendulumNoisy-v1", "rrl_sb3/PendulumFlicker-v1"],
        "rrl_sb3/CartPoleNoVel-v1": ["rrl_sb3/CartPoleNoisy-v1", "rrl_sb3/CartPoleFlicker-v1"],
    },
}
ALIASES["recurrent_ppo_gru"] = ALIASES["recurrent_ppo_lstm"]


def zoo_hyperparams_dir() -> Path:
    spec = importlib.util.find_spec("rl_zoo3")  # without importing it: its import pulls in much more
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("rl_zoo3 is not installed (it is in the tests extra)")
    return Path(next(iter(spec.submodule_search_locations))) / "hyperparams"


def flatten(settings: dict[str, Any]) -> dict[str, Any]:
    """Values parsed as the runner parses them; ``policy_kwargs`` spread into ``policy_kwargs.<key>``."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        value = parse_number(value)
        if key == "policy_kwargs":
            kwargs = parse_python_literal(value, key) if isinstance(value, str) else value
            flat.update({f"policy_kwargs.{k}": v for k, v in kwargs.items()})
        elif key == "normalize" and isinstance(value, str):
            flat[key] = parse_python_literal(value, key)
        else:
            flat[key] = float(value) if isinstance(value, int) and not isinstance(value, bool) else value
    return flat


def apply_changes(zoo: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    expected = dict(zoo)
    for key, value in changes.items():
        if value is REMOVED:
            del expected[key]
        elif isinstance(value, str) and value.startswith("policy_kwargs."):  # a renamed key, same value
            expected[value] = expected.pop(key)
        else:
            expected[key] = float(value) if isinstance(value, int) and not isinstance(value, bool) else value
    return expected


@pytest.mark.parametrize(("ours", "env_id", "zoo_file", "zoo_id", "changes"), SOURCES)
def test_baseline_entry_is_rl_zoo3_verbatim(ours: str, env_id: str, zoo_file: str, zoo_id: str, changes: dict) -> None:
    zoo_entry = load_yaml(zoo_hyperparams_dir() / f"{zoo_file}.yml")[zoo_id]
    our_entry = load_hyperparams(HYPERPARAMS, ours, env_id)
    assert flatten(our_entry) == apply_changes(flatten(zoo_entry), changes)


@pytest.mark.parametrize("ours", sorted(ALIASES))
def test_pomdp_ids_take_their_base_env_entry(ours: str) -> None:
    for base, aliases in ALIASES[ours].items():
        for alias in aliases:
            assert load_hyperparams(HYPERPARAMS, ours, alias) == load_hyperparams(HYPERPARAMS, ours, base)


def test_the_check_catches_a_changed_key(tmp_path: Path) -> None:
    text = (HYPERPARAMS / "recurrent_ppo_lstm.yml").read_text().replace("lstm_hidden_size=64", "lstm_hidden_size=256")
    (tmp_path / "recurrent_ppo_lstm.yml").write_text(text)
    zoo_entry = load_yaml(zoo_hyperparams_dir() / "ppo_lstm.yml")["PendulumNoVel-v1"]
    drifted = flatten(load_hyperparams(tmp_path, "recurrent_ppo_lstm", "rrl_sb3/PendulumNoVel-v1"))
    assert drifted != flatten(zoo_entry)
    assert drifted["policy_kwargs.lstm_hidden_size"] == 256


def test_the_demo_uses_the_shipped_tuned_settings() -> None:
    """``make demo`` (examples/recurrent_ppo_cartpole_novel.py) spells the settings out for readers: they must be ours."""
    path = Path(__file__).resolve().parents[1] / "examples" / "recurrent_ppo_cartpole_novel.py"
    spec = importlib.util.spec_from_file_location("demo", path)
    assert spec is not None and spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    gru = prepare(load_hyperparams(HYPERPARAMS, "recurrent_ppo_gru", demo.ENV_ID), "gru")
    ppo = prepare(load_hyperparams(HYPERPARAMS, "ppo", "CartPole-v1"), "ppo")
    settings = {key: repr(value) for key, value in demo.PPO_SETTINGS.items()}  # schedules compare by their repr
    assert settings == {key: repr(value) for key, value in gru.kwargs.items()}
    assert settings == {key: repr(value) for key, value in ppo.kwargs.items()}
    assert gru.policy_kwargs == demo.GRU_POLICY_KWARGS and gru.normalize == {} and ppo.normalize is None
    assert demo.N_ENVS == gru.n_envs == ppo.n_envs
