"""Exact resume: a run stopped and resumed from a checkpoint ends bit-identical to one that was never stopped."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import SubprocVecEnv, VecEnv, VecNormalize

from rrl_sb3 import REINFORCE, Dreamer, RecurrentSAC
from rrl_sb3.common.checkpoints import RESUME_FILE, ResumableCheckpointCallback, latest_checkpoint
from tests.checks import DREAMER_TINY, SAC_TINY, assert_nested_equal

REINFORCE_SMALL = {"n_episodes": 3, "device": "cpu", "policy_kwargs": {"rnn_hidden_size": 8, "net_arch": [8]}}

# algorithm, its policy and settings, env id, n_envs, VecNormalize (its running returns are state too), env steps
CASES = {
    "Dreamer": (Dreamer, "MlpPolicy", DREAMER_TINY, "Pendulum-v1", 1, False, 120),
    "Dreamer-VecNormalize-2envs": (Dreamer, "MlpPolicy", DREAMER_TINY, "Pendulum-v1", 2, True, 120),
    "RecurrentSAC": (RecurrentSAC, "MlpPolicy", SAC_TINY, "Pendulum-v1", 1, True, 90),
    "REINFORCE-2envs": (REINFORCE, "MlpGruPolicy", REINFORCE_SMALL, "CartPole-v1", 2, False, 400),
}


def make_env(env_id: str, n_envs: int, normalize: bool, seed: int = 0) -> VecEnv:
    env = make_vec_env(env_id, n_envs=n_envs, seed=seed)
    return VecNormalize(env, gamma=0.9) if normalize else env


def assert_same_run(model: BaseAlgorithm, resumed: BaseAlgorithm) -> None:
    """Same env steps, updates, parameters and optimizer states, replay buffer, last observations and carried state."""
    assert resumed.num_timesteps == model.num_timesteps
    assert resumed._n_updates == model._n_updates
    assert_nested_equal(model.get_parameters(), resumed.get_parameters(), "parameters")
    np.testing.assert_array_equal(model._last_obs, resumed._last_obs)
    assert_nested_equal(tuple(model._rnn_state), tuple(resumed._rnn_state), "_rnn_state")
    buffer = getattr(model, "replay_buffer", None)
    if buffer is not None:
        for name in ("observations", "prev_actions", "rewards", "terminated", "truncated", "is_first", "pos", "n_stored"):
            np.testing.assert_array_equal(getattr(buffer, name), getattr(resumed.replay_buffer, name), err_msg=name)


@pytest.mark.parametrize("case", list(CASES))
def test_resume_from_every_checkpoint_is_exact(case: str, tmp_path: pathlib.Path) -> None:
    algo, policy, kwargs, env_id, n_envs, normalize, steps = CASES[case]
    model = algo(policy, make_env(env_id, n_envs, normalize), seed=3, **kwargs)
    model.learn(steps, callback=ResumableCheckpointCallback(save_freq=steps // (3 * n_envs), save_path=tmp_path))
    checkpoints = sorted(tmp_path.iterdir(), key=lambda path: int(path.name.split("_")[-2]))
    assert len(checkpoints) >= 2  # before and after the updates start (Dreamer, RecurrentSAC) or mid-batch (REINFORCE)
    for path in checkpoints:
        # Another env seed: everything about the env, its episodes in progress included, comes from the checkpoint.
        resumed = algo.load_checkpoint(path, env=make_env(env_id, n_envs, normalize, seed=99))
        assert 0 < resumed.num_timesteps < steps
        resumed.learn(steps - resumed.num_timesteps, reset_num_timesteps=False)
        assert_same_run(model, resumed)


def test_plain_load_is_not_exact(tmp_path: pathlib.Path) -> None:
    """What the checkpoint adds is needed: SB3's load of the same model.zip and buffer, with the envs reset, diverges."""
    algo, _, kwargs, env_id, n_envs, normalize, steps = CASES["Dreamer"]
    model = algo("MlpPolicy", make_env(env_id, n_envs, normalize), seed=3, **kwargs)
    model.learn(steps, callback=ResumableCheckpointCallback(save_freq=60, save_path=tmp_path))
    path = latest_checkpoint(tmp_path)
    assert path is not None
    plain = algo.load(path / "model.zip", env=make_env(env_id, n_envs, normalize))
    plain.load_replay_buffer(path / "replay_buffer.pkl")
    plain.learn(steps - plain.num_timesteps, reset_num_timesteps=False)
    assert plain.num_timesteps == model.num_timesteps
    with pytest.raises(AssertionError):
        assert_nested_equal(model.get_parameters(), plain.get_parameters(), "parameters")


KILLED_RUN = """
import os, signal, sys
import torch as th
th.set_num_threads(1)
from stable_baselines3.common.callbacks import BaseCallback
from rrl_sb3 import Dreamer
from rrl_sb3.common.checkpoints import ResumableCheckpointCallback
from tests.checks import DREAMER_TINY
from tests.test_resume import make_env

class KillAt(BaseCallback):
    def _on_step(self):
        if self.num_timesteps == {kill_at}:
            os.kill(os.getpid(), signal.SIGKILL)  # no clean-up, no flush: as a crash or an OOM kill would
        return True

model = Dreamer("MlpPolicy", make_env("Pendulum-v1", 1, False), seed=3, **DREAMER_TINY)
model.learn({steps}, callback=[ResumableCheckpointCallback(save_freq=25, save_path=sys.argv[1]), KillAt()])
"""


def test_killed_process_resumes_exactly(tmp_path: pathlib.Path) -> None:
    steps, kill_at = 120, 95
    script = textwrap.dedent(KILLED_RUN.format(kill_at=kill_at, steps=steps))
    root = pathlib.Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=root, env=env, timeout=300, check=False)
    assert done.returncode == -signal.SIGKILL
    path = latest_checkpoint(tmp_path)
    assert path is not None and path.name == "rl_model_75_steps"
    resumed = Dreamer.load_checkpoint(path, env=make_env("Pendulum-v1", 1, False, seed=99))
    resumed.learn(steps - resumed.num_timesteps, reset_num_timesteps=False)
    model = Dreamer("MlpPolicy", make_env("Pendulum-v1", 1, False), seed=3, **DREAMER_TINY)
    model.learn(steps)
    assert_same_run(model, resumed)


def test_checkpoint_errors(tmp_path: pathlib.Path) -> None:
    algo, _, kwargs, env_id, n_envs, normalize, _ = CASES["Dreamer"]
    model = algo("MlpPolicy", make_env(env_id, n_envs, normalize), seed=3, **kwargs)
    model.learn(10)
    path = model.save_checkpoint(tmp_path / "ckpt")
    assert sorted(p.name for p in path.iterdir()) == ["model.zip", "replay_buffer.pkl", RESUME_FILE]
    with pytest.raises(ValueError, match="VecEnv stack VecNormalize > DummyVecEnv, the env given is DummyVecEnv"):
        normalized = algo("MlpPolicy", make_env(env_id, 1, True), seed=3, **kwargs)
        normalized.learn(10)
        algo.load_checkpoint(normalized.save_checkpoint(tmp_path / "normalized"), env=make_env(env_id, 1, False))
    with pytest.raises(ValueError, match="is a checkpoint of Dreamer, not of RecurrentSAC"):
        RecurrentSAC.load_checkpoint(path, env=make_env(env_id, 1, False))
    with pytest.raises(ValueError, match="got path=None"):
        algo.load_checkpoint(latest_checkpoint(tmp_path / "empty"), env=make_env(env_id, 1, False))
    with pytest.raises(ValueError, match="needs the env"):
        algo.load_checkpoint(path, env=None)  # type: ignore[arg-type]
    (path / RESUME_FILE).unlink()
    with pytest.raises(ValueError, match="not a complete checkpoint"):
        algo.load_checkpoint(path, env=make_env(env_id, 1, False))
    assert latest_checkpoint(tmp_path, "ckpt") is None
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / RESUME_FILE).write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="is not the resume state of a checkpoint"):
        algo.load_checkpoint(tmp_path / "garbled", env=make_env(env_id, 1, False))
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="save_freq must be a positive int"):
            ResumableCheckpointCallback(save_freq=bad, save_path=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="keep_last must be None or a positive int"):
        ResumableCheckpointCallback(save_freq=5, save_path=tmp_path, keep_last=0)


def test_envs_in_other_processes_are_refused_before_training(tmp_path: pathlib.Path) -> None:
    env = make_vec_env("Pendulum-v1", n_envs=2, vec_env_cls=SubprocVecEnv, vec_env_kwargs={"start_method": "spawn"})
    try:
        model = Dreamer("MlpPolicy", env, seed=0, **DREAMER_TINY)
        with pytest.raises(ValueError, match=r"needs the envs stepped in this process.*got SubprocVecEnv"):
            model.learn(10, callback=ResumableCheckpointCallback(save_freq=5, save_path=tmp_path))
        assert model.num_timesteps == 0
    finally:
        env.close()


def test_keep_last_deletes_older_checkpoints(tmp_path: pathlib.Path) -> None:
    model = REINFORCE("MlpGruPolicy", make_env("CartPole-v1", 1, False), seed=0, **REINFORCE_SMALL)
    model.learn(300, callback=ResumableCheckpointCallback(save_freq=40, save_path=tmp_path, keep_last=2))
    kept = sorted(int(path.name.split("_")[-2]) for path in tmp_path.iterdir())
    assert len(kept) == 2 and max(kept) <= model.num_timesteps
    assert latest_checkpoint(tmp_path) == tmp_path / f"rl_model_{max(kept)}_steps"
