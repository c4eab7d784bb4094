"""rl-zoo3 as a client: our algorithms and search spaces in its tables, and its own `train` tuning Dreamer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("rl_zoo3")
pytest.importorskip("optuna")

import optuna
from rl_zoo3 import hyperparams_opt, utils
from sb3_contrib import RecurrentPPO

import rrl_sb3.zoo
from rrl_sb3 import Dreamer
from rrl_sb3.policies import MlpGruPolicy


def test_register_adds_algorithms_samplers_and_converters() -> None:
    names = rrl_sb3.zoo.register()
    assert names == ["dreamer", "recurrent_sac", "reinforce", "ppo_gru"]
    assert rrl_sb3.zoo.register() == names  # idempotent
    assert utils.ALGOS["dreamer"] is Dreamer and utils.ALGOS["ppo"].__name__ == "PPO"  # rl-zoo3's own left alone
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    settings = hyperparams_opt.HYPERPARAMS_SAMPLER["ppo_gru"](trial, 1, 4, {})
    assert settings["batch_size"] <= settings["n_steps"] * 4 and "gru_hidden_size" in settings["policy_kwargs"]
    # a stored study's parameters convert back to the settings they were drawn as
    assert hyperparams_opt.HYPERPARAMS_CONVERTER["ppo_gru"](trial.params)["learning_rate"] == settings["learning_rate"]


def test_ppo_gru_takes_the_gru_policy_names() -> None:
    model = rrl_sb3.zoo.RecurrentPPOGru("MlpGruPolicy", "CartPole-v1", n_steps=16, batch_size=16)
    assert isinstance(model.policy, MlpGruPolicy) and isinstance(model, RecurrentPPO)
    assert rrl_sb3.zoo.RecurrentPPOGru.policy_aliases["MlpLstmPolicy"] is RecurrentPPO.policy_aliases["MlpLstmPolicy"]


def test_rl_zoo3_train_optimizes_dreamer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rl-zoo3's own `train` entry point, `-optimize` with 2 trials, through `python -m rrl_sb3.zoo train`'s main."""
    conf = tmp_path / "dreamer.yml"
    conf.write_text(
        "rrl_sb3/PendulumNoVel-v1:\n"
        "  n_timesteps: 160\n"
        "  policy: 'MlpPolicy'\n"
        "  learning_starts: 64\n"
        "  batch_size: 4\n"
        "  sequence_length: 8\n"
        "  policy_kwargs: 'dict(hidden=32, deter=32, stoch=4, classes=4)'\n"
    )
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--algo", "dreamer", "--env", "rrl_sb3/PendulumNoVel-v1", "-conf", str(conf), "-f", "logs"]
    argv += ["-optimize", "--n-trials", "2", "--n-jobs", "1", "--sampler", "random", "--pruner", "none"]
    argv += ["--n-evaluations", "1", "--eval-episodes", "1", "--no-optim-plots", "--seed", "0"]
    monkeypatch.setattr(sys, "argv", ["python"])  # main() replaces it with rl-zoo3's
    rrl_sb3.zoo.main(argv)
    reports = list((tmp_path / "logs" / "dreamer").glob("report_rrl_sb3-PendulumNoVel-v1_2-trials-160-random-none_*.csv"))
    assert len(reports) == 1
    rows = reports[0].read_text().strip().splitlines()
    assert len(rows) == 3 and "params_train_ratio" in rows[0]  # header + 2 trials, our search space's parameters


def test_main_names_its_scripts() -> None:
    with pytest.raises(SystemExit, match="train,enjoy"):
        rrl_sb3.zoo.main(["fly"])
