"""Nothing lost, nothing poisoned: finite-value guards, validated arguments, checked loads, compact replay saves."""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv

from rrl_sb3 import REINFORCE, Dreamer, RecurrentSAC
from rrl_sb3.common.guards import NonFiniteError, guarded_optimizer_step
from rrl_sb3.policies import MlpGruPolicy
from rrl_sb3.reinforce.reinforce import Episode
from tests.test_contract import DREAMER_TINY, GRU_PPO_TINY, REINFORCE_TINY, SAC_TINY

# --- NaN injection -----------------------------------------------------------------------------------------------------


class NanAt(gym.Wrapper):
    """Returns a NaN observation or reward on its ``at``-th step (counted over the env's life)."""

    def __init__(self, env: gym.Env, at: int, field: str) -> None:
        super().__init__(env)
        self.at, self.field, self.steps = at, field, 0

    def step(self, action: Any) -> Any:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        if self.steps == self.at:
            if self.field == "observation":
                obs = np.full_like(obs, np.nan)
            else:
                reward = float("nan")
        return obs, reward, terminated, truncated, info


def poisoned_pendulum(field: str, at: int = 30) -> DummyVecEnv:
    """Two short Pendulums; env 1 returns NaN on its ``at``-th step."""

    def make(i: int) -> Any:
        return lambda: NanAt(gym.make("Pendulum-v1", max_episode_steps=20), at if i == 1 else 10**9, field)

    venv = DummyVecEnv([make(0), make(1)])
    venv.seed(0)
    return venv


class Snapshots(BaseCallback):
    """Keeps a copy of the parameters at every step (the step's data is not stored or trained on yet)."""

    def __init__(self) -> None:
        super().__init__()
        self.last: dict[str, th.Tensor] = {}

    def _on_step(self) -> bool:
        self.last = {k: v.detach().clone() for k, v in self.model.policy.state_dict().items()}
        return True


def build(algo: str, env: Any, **kwargs: Any) -> BaseAlgorithm:
    if algo == "Dreamer":
        return Dreamer("MlpPolicy", env, seed=0, **{**DREAMER_TINY, **kwargs})
    if algo == "RecurrentSAC":
        return RecurrentSAC("MlpPolicy", env, seed=0, **{**SAC_TINY, **kwargs})
    if algo == "REINFORCE":
        return REINFORCE("MlpGruPolicy", env, seed=0, **{**REINFORCE_TINY, **kwargs})
    return RecurrentPPO(MlpGruPolicy, env, seed=0, **{**GRU_PPO_TINY, **kwargs})


def assert_params_finite_and_equal(model: BaseAlgorithm, expected: dict[str, th.Tensor]) -> None:
    state = model.policy.state_dict()
    assert expected and state.keys() == expected.keys()
    for name, value in state.items():
        if value.is_floating_point():
            assert th.isfinite(value).all(), name
        assert th.equal(value, expected[name]), name


@pytest.mark.parametrize("field", ["observation", "reward"])
@pytest.mark.parametrize("algo", ["Dreamer", "RecurrentSAC", "REINFORCE", "RecurrentPPO-MlpGruPolicy"])
def test_nan_from_env_mid_training_raises_and_leaves_weights(algo: str, field: str) -> None:
    if algo.startswith("RecurrentPPO") and field == "reward":
        pytest.skip("sb3-contrib's RecurrentPPO stores rewards without the policy seeing them (documented)")
    model = build(algo, poisoned_pendulum(field))
    snapshots = Snapshots()
    with pytest.raises(NonFiniteError, match=rf"env 1 returned a non-finite {field} at step|observation must be finite"):
        model.learn(400, callback=snapshots)
    assert model._n_updates > 0  # the NaN came mid-training
    if algo.startswith("RecurrentPPO"):  # caught while acting: nothing of the poisoned step was acted upon
        return
    assert model.num_timesteps == 60  # env 1's 30th step
    assert_params_finite_and_equal(model, snapshots.last)
    if algo in ("Dreamer", "RecurrentSAC"):
        buffer = model.replay_buffer
        assert np.isfinite(buffer.observations).all() and np.isfinite(buffer.rewards).all()


def test_error_names_env_step_and_terminal_observation() -> None:
    from rrl_sb3.common.guards import check_env_step

    obs, rewards = np.zeros((3, 2)), np.zeros(3)
    check_env_step(7, obs, rewards, np.zeros(3, bool), [{}] * 3)
    infos = [{}, {}, {"terminal_observation": np.array([np.inf, 0.0])}]
    with pytest.raises(NonFiniteError, match="env 2 returned a non-finite terminal_observation at step 7"):
        check_env_step(7, obs, rewards, np.array([False, False, True]), infos)
    rewards[0] = np.inf
    with pytest.raises(NonFiniteError, match="env 0 returned a non-finite reward at step 7"):
        check_env_step(7, obs, rewards)


# --- non-finite losses --------------------------------------------------------------------------------------------------


def test_guarded_optimizer_step() -> None:
    net = th.nn.Linear(2, 1)
    optimizer = th.optim.Adam(net.parameters(), lr=0.1)
    before = [p.detach().clone() for p in net.parameters()]
    nan_loss = net(th.tensor([[np.nan, 1.0]])).sum()
    with pytest.raises(NonFiniteError, match="non-finite net loss"):
        guarded_optimizer_step(optimizer, nan_loss, net.parameters(), 1.0, "net")
    with pytest.warns(RuntimeWarning, match="non-finite net loss"):
        loss = net(th.tensor([[np.nan, 1.0]])).sum()
        assert guarded_optimizer_step(optimizer, loss, net.parameters(), None, "net", "warn") is None
    assert all(th.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert not optimizer.state  # no moment was updated
    # a finite loss with an infinite gradient (sqrt at 0)
    loss = th.sqrt(net.weight.sum() * 0.0)
    with pytest.raises(NonFiniteError, match="non-finite net gradient"):
        guarded_optimizer_step(optimizer, loss, net.parameters(), None, "net")
    norm = guarded_optimizer_step(optimizer, net(th.ones(1, 2)).sum(), net.parameters(), None, "net")
    assert norm is not None and th.isfinite(norm)
    assert not all(th.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


def test_guarded_optimizer_step_backpropagates_into_its_own_parameters_only() -> None:
    """An actor's loss that passes through a critic: the actor's step computes no gradient for the critic (whose
    ``.grad`` stays as it was), the same actor gradient as a full backward, and with ``retain_graph`` the critic's loss
    can still be backpropagated through the shared pass."""
    actor, critic = th.nn.Linear(2, 2), th.nn.Linear(2, 1)
    x = th.ones(3, 2)
    expected = th.autograd.grad(-critic(actor(x)).sum(), list(actor.parameters()))
    value = critic(actor(x))
    guarded_optimizer_step(
        th.optim.SGD(actor.parameters(), lr=0.0), -value.sum(), actor.parameters(), None, "actor", retain_graph=True
    )
    assert all(p.grad is None for p in critic.parameters())
    assert all(th.equal(p.grad, g) for p, g in zip(actor.parameters(), expected, strict=True))
    guarded_optimizer_step(th.optim.SGD(critic.parameters(), lr=0.1), value.pow(2).sum(), critic.parameters(), None, "critic")
    assert all(p.grad is not None for p in critic.parameters())


def poison_and_train(model: BaseAlgorithm) -> None:
    """Put a NaN reward where training reads it (behind the env guard) and run one round of training."""
    if isinstance(model, REINFORCE):
        model._complete = [Episode(np.zeros((4, 3), np.float32), np.zeros((3, 1), np.float32), np.full(3, np.nan), False)]
        model.train()
    else:
        model.replay_buffer.rewards[:] = np.nan
        if isinstance(model, Dreamer):
            model._train_credit = model.batch_size * model.sequence_length - model.train_ratio  # one update
            model.train(1, model.batch_size)
        else:
            model.train(1, model.batch_size)


@pytest.mark.parametrize("algo", ["Dreamer", "RecurrentSAC", "REINFORCE"])
@pytest.mark.parametrize("mode", ["raise", "warn"])
def test_non_finite_loss_skips_the_step(algo: str, mode: str) -> None:
    model = build(algo, make_vec_env("Pendulum-v1", n_envs=2, seed=0, env_kwargs={"max_episode_steps": 20}))
    model.on_non_finite = mode
    model.learn(60)
    before = {k: v.detach().clone() for k, v in model.policy.state_dict().items()}
    n_updates = model._n_updates
    if mode == "raise":
        with pytest.raises(NonFiniteError, match="unchanged"):
            poison_and_train(model)
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            poison_and_train(model)
        assert any("non-finite" in str(w.message) for w in caught)
    after = model.policy.state_dict()
    # What the poisoned loss trains is untouched; when warned, the other networks' finite losses still train them.
    untouched = {"Dreamer": ("world_model.",), "RecurrentSAC": ("critic.",), "REINFORCE": ("",)}[algo]
    if mode == "raise" and algo != "REINFORCE":  # the first loss of the update raised: nothing changed
        untouched = ("world_model.", "actor.", "critic.") if algo == "Dreamer" else ("actor.", "critic.")
    assert any(name.startswith(untouched) for name in before)
    for name, value in before.items():
        if name.startswith(untouched):
            assert th.equal(value, after[name]), name
        assert th.isfinite(after[name].float()).all(), name
    if algo == "REINFORCE":
        assert model._n_updates == n_updates


# --- predict --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algo", ["Dreamer", "RecurrentSAC", "REINFORCE", "RecurrentPPO-MlpGruPolicy"])
def test_predict_rejects_bad_input(algo: str) -> None:
    model = build(algo, make_vec_env("Pendulum-v1", n_envs=2, seed=0))
    obs = np.zeros((2, 3), np.float32)
    _, state = model.predict(obs, episode_start=np.ones(2))
    bad_obs = obs.copy()
    bad_obs[1, 2] = np.nan
    with pytest.raises(NonFiniteError, match="observation must be finite"):
        model.predict(bad_obs)
    with pytest.raises(NonFiniteError, match="observation must be finite"):
        model.predict(np.array([np.inf, 0.0, 0.0], np.float32))
    with pytest.raises(ValueError, match="episode_start must have one flag per env"):
        model.predict(obs, state=state, episode_start=np.ones(3))
    with pytest.raises(ValueError, match="episode_start must have one flag per env"):
        model.predict(obs, episode_start=np.ones(1))
    with pytest.raises(ValueError, match="state must be"):
        model.predict(obs, state=tuple(s[..., :1] for s in state), episode_start=np.zeros(2))
    with pytest.raises(ValueError, match="state must be"):
        model.predict(obs, state=(*state, state[0]), episode_start=np.zeros(2))


# --- constructor arguments -------------------------------------------------------------------------------------------

BAD_ARGUMENTS: dict[str, list[tuple[str, Any]]] = {
    "Dreamer": [
        ("learning_rate", 0),
        ("learning_rate", -1e-3),
        ("learning_rate", float("nan")),
        ("sequence_length", 1),
        ("sequence_length", 0),
        ("on_non_finite", "ignore"),
        ("unimix", -0.1),
        ("unimix", 1.5),
        ("unimix", float("nan")),
        ("free_bits", float("nan")),
        ("free_bits", -1.0),
        ("free_bits", float("inf")),
        ("actor_min_std", -0.1),
        ("actor_min_std", 0.0),
        ("actor_min_std", 2.0),  # above actor_max_std=1
        ("actor_max_std", float("nan")),
        ("latent_min_std", 0.0),
        ("dyn_scale", -1.0),
        ("rep_scale", float("nan")),
        ("latent", "discrete"),
        ("twohot_space", "log"),
        ("replay_value_scale", -0.3),
        ("replay_value_scale", float("nan")),
    ],
    "RecurrentSAC": [("learning_rate", 0), ("sequence_length", 1), ("on_non_finite", "skip"), ("gamma", float("nan"))],
    "REINFORCE": [("learning_rate", 0), ("on_non_finite", True), ("gamma", 2), ("max_grad_norm", float("nan"))],
}
POLICY_KWARGS = {
    "unimix",
    "free_bits",
    "actor_min_std",
    "actor_max_std",
    "latent_min_std",
    "dyn_scale",
    "rep_scale",
    "latent",
    "twohot_space",
}


@pytest.mark.parametrize(
    "algo, name, value", [(algo, name, value) for algo, cases in BAD_ARGUMENTS.items() for name, value in cases]
)
def test_constructor_rejects_bad_arguments(algo: str, name: str, value: Any) -> None:
    env = make_vec_env("Pendulum-v1", n_envs=1, seed=0)
    kwargs: dict[str, Any] = {}
    if name in POLICY_KWARGS:
        kwargs["policy_kwargs"] = {**DREAMER_TINY["policy_kwargs"], name: value}  # type: ignore[dict-item]
    else:
        kwargs[name] = value
    with pytest.raises(ValueError, match=rf"{name}"):
        build(algo, env, **kwargs)


def test_dreamer_accepts_the_bounds() -> None:
    env = make_vec_env("Pendulum-v1", n_envs=1, seed=0)
    policy_kwargs = {**DREAMER_TINY["policy_kwargs"], "unimix": 0.0, "free_bits": 0.0, "actor_max_std": 0.2}
    build("Dreamer", env, policy_kwargs=policy_kwargs, sequence_length=2)  # type: ignore[arg-type]


# --- loads --------------------------------------------------------------------------------------------------------------


def pendulum(n_envs: int = 1) -> Any:
    return make_vec_env("Pendulum-v1", n_envs=n_envs, seed=0, env_kwargs={"max_episode_steps": 20})


@pytest.mark.parametrize("algo", ["Dreamer", "RecurrentSAC"])
def test_load_replay_buffer_checks_every_space(algo: str, tmp_path: Any) -> None:
    model = build(algo, pendulum())
    model.learn(30)
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    cases = {
        "action space": build("Dreamer", make_vec_env("MountainCar-v0", n_envs=1, seed=0)) if algo == "Dreamer" else None,
        "n_envs": build(algo, pendulum(2)),
        "observation space": build(algo, make_vec_env("MountainCarContinuous-v0", n_envs=1, seed=0)),
    }
    if algo == "Dreamer":  # a Discrete-action buffer into a Box-action model: the reverse direction
        discrete = cases["action space"]
        discrete.learn(30)
        discrete.save_replay_buffer(tmp_path / "discrete.pkl")
        other = build("Dreamer", make_vec_env("MountainCarContinuous-v0", n_envs=1, seed=0))
        own = other.replay_buffer
        with pytest.raises(ValueError, match=r"discrete\.pkl.*action space type Discrete != Box"):
            other.load_replay_buffer(tmp_path / "discrete.pkl")
        assert other.replay_buffer is own and other.replay_buffer.prev_actions.dtype == np.float32
    for what, other in cases.items():
        if other is None:
            continue
        own = other.replay_buffer
        with pytest.raises(ValueError, match=rf"buffer\.pkl.*{what}"):
            other.load_replay_buffer(tmp_path / "buffer.pkl")
        assert other.replay_buffer is own
    # corrupted, truncated and foreign files: one ValueError naming the file
    data = (tmp_path / "buffer.pkl").read_bytes()
    (tmp_path / "truncated.pkl").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.pkl").write_bytes(b"not a pickle at all")
    model.save(tmp_path / "model.zip")
    for name in ("truncated.pkl", "garbage.pkl", "model.zip"):
        with pytest.raises((ValueError, TypeError), match=rf"{name}"):
            model.load_replay_buffer(tmp_path / name)


@pytest.mark.parametrize("algo", ["Dreamer", "RecurrentSAC", "REINFORCE"])
def test_load_and_set_env_check_every_space(algo: str, tmp_path: Any) -> None:
    model = build(algo, pendulum())
    model.save(tmp_path / "model.zip")
    cls = type(model)
    with pytest.raises(ValueError, match=r"n_envs 2 != 1"):
        model.set_env(pendulum(2))
    with pytest.raises(ValueError, match=r"observation space shape \(2,\) != \(3,\)"):
        model.set_env(make_vec_env("MountainCarContinuous-v0", n_envs=1, seed=0))
    with pytest.raises(ValueError, match=r"model\.zip.*[Oo]bservation spaces do not match"):
        cls.load(tmp_path / "model.zip", env=make_vec_env("MountainCarContinuous-v0", n_envs=1, seed=0))
    data = (tmp_path / "model.zip").read_bytes()
    (tmp_path / "truncated.zip").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.zip").write_bytes(b"not a zip file")
    foreign = build("RecurrentSAC" if algo != "RecurrentSAC" else "Dreamer", pendulum())
    foreign.save(tmp_path / "foreign.zip")
    for name in ("truncated.zip", "garbage.zip", "foreign.zip"):
        with pytest.raises(ValueError, match=rf"{name}"):
            cls.load(tmp_path / name)
    loaded = cls.load(tmp_path / "model.zip", env=pendulum())  # and the right file still loads
    loaded.set_env(pendulum())


# --- compact replay save ----------------------------------------------------------------------------------------------


def filled_buffer(rows: int, buffer_size: int = 1_000_000, n_envs: int = 2) -> Any:
    from rrl_sb3.common.buffers import SequenceReplayBuffer, final_observations

    venv = pendulum(n_envs)
    buffer = SequenceReplayBuffer(buffer_size, venv.observation_space, venv.action_space, n_envs=n_envs, seed=3)
    obs = venv.reset()
    rng = np.random.default_rng(0)
    for _ in range(rows):
        actions = rng.uniform(-2, 2, size=(n_envs, 1)).astype(np.float32)
        new_obs, rewards, dones, infos = venv.step(actions)
        buffer.add(obs, final_observations(new_obs, dones, infos), actions, rewards, dones, infos)
        obs = new_obs
    return buffer


def test_compact_replay_save_restores_the_buffer(tmp_path: Any) -> None:
    from stable_baselines3.common.save_util import load_from_pkl, save_to_pkl

    for buffer in (filled_buffer(50), filled_buffer(70, buffer_size=40, n_envs=2)):  # the second has wrapped around
        save_to_pkl(tmp_path / "buffer.pkl", buffer)
        loaded = load_from_pkl(tmp_path / "buffer.pkl")
        for name in ("observations", "prev_actions", "rewards", "terminated", "truncated", "is_first", "pos", "n_stored"):
            original, restored = getattr(buffer, name), getattr(loaded, name)
            assert restored.shape == original.shape and restored.dtype == original.dtype, name
            assert np.array_equal(restored, original), name
        for _ in range(3):  # the sampling generator travels too: same draws
            a, b = buffer.sample(4, 8), loaded.sample(4, 8)
            for x, y in zip(a, b, strict=True):
                assert th.equal(x, y)


def test_compact_replay_save_size_grows_with_what_is_stored(tmp_path: Any) -> None:
    from stable_baselines3.common.save_util import save_to_pkl

    sizes = {}
    for rows in (50, 550):
        save_to_pkl(tmp_path / f"{rows}.pkl", filled_buffer(rows))  # buffer_size=1e6: 500,000 rows per env preallocated
        sizes[rows] = (tmp_path / f"{rows}.pkl").stat().st_size
    per_transition = (sizes[550] - sizes[50]) / (2 * 500)
    # per stored row: observation (3 float32), action (float32), reward (float32), three flags; plus pickle framing
    assert per_transition < 40, sizes
    assert sizes[50] < 20_000, sizes  # the 23 MB of preallocated rows are not written


@pytest.mark.parametrize("algo", ["Dreamer", "RecurrentSAC", "REINFORCE"])
def test_infinite_observation_under_vec_normalize(algo: str) -> None:
    from stable_baselines3.common.vec_env import VecNormalize

    class InfAt(NanAt):
        def step(self, action: Any) -> Any:
            obs, reward, terminated, truncated, info = super().step(action)
            return (np.full_like(obs, np.inf) if self.steps == self.at else obs), reward, terminated, truncated, info

    venv = DummyVecEnv([lambda: InfAt(gym.make("Pendulum-v1", max_episode_steps=20), 10, "none")])
    model = build(algo, VecNormalize(venv))  # VecNormalize clips the normalised observation: the original one is checked
    with pytest.raises(NonFiniteError, match="env 0 returned a non-finite observation at step 10"):
        model.learn(40)


# --- VecCheckFinite: the same guard for any algorithm -----------------------------------------------------------------


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("field", ["observation", "reward"])
def test_vec_check_finite_names_env_step_and_field_under_vec_normalize(field: str, value: float) -> None:
    from stable_baselines3.common.vec_env import VecNormalize

    from rrl_sb3.common import VecCheckFinite

    class BadAt(NanAt):
        def step(self, action: Any) -> Any:
            obs, reward, terminated, truncated, info = self.env.step(action)
            self.steps += 1
            if self.steps == self.at:
                obs, reward = (np.full_like(obs, value), reward) if field == "observation" else (obs, value)
            return obs, reward, terminated, truncated, info

    venv = DummyVecEnv([lambda i=i: BadAt(gym.make("Pendulum-v1"), 7 if i == 1 else 10**9, "") for i in range(2)])
    env = VecNormalize(VecCheckFinite(venv))  # under VecNormalize, whose clipping would hide an infinite value
    env.reset()
    for _ in range(6):
        env.step(np.zeros((2, 1), dtype=np.float32))
    with pytest.raises(NonFiniteError, match=rf"env 1 returned a non-finite {field} at step 7 \(VecEnv steps"):
        env.step(np.zeros((2, 1), dtype=np.float32))
    assert np.isfinite(env.obs_rms.mean).all() and np.isfinite(env.ret_rms.var).all()  # nothing reached the statistics


def test_vec_check_finite_dict_observations_terminal_observations_and_actions() -> None:
    from rrl_sb3.common import VecCheckFinite

    class DictEnv(gym.Env):
        observation_space = gym.spaces.Dict({"pos": gym.spaces.Box(-1, 1, (2,)), "goal": gym.spaces.Box(-1, 1, (1,))})
        action_space = gym.spaces.Box(-1, 1, (1,))

        def __init__(self, bad: str) -> None:
            self.bad, self.t = bad, 0

        def reset(self, *, seed: int | None = None, options: Any = None) -> Any:
            self.t = 0
            return {"pos": np.zeros(2, np.float32), "goal": np.zeros(1, np.float32)}, {}

        def step(self, action: Any) -> Any:
            self.t += 1
            obs = {"pos": np.zeros(2, np.float32), "goal": np.zeros(1, np.float32)}
            if self.t == 2 and self.bad == "goal":
                obs["goal"][0] = np.nan
            if self.t == 3 and self.bad == "terminal":
                obs["pos"][1] = np.inf  # the last observation of an episode: VecEnv puts it in info, resets
                return obs, 0.0, True, False, {}
            return obs, 0.0, False, False, {}

    env = VecCheckFinite(DummyVecEnv([lambda: DictEnv("goal")]))
    env.reset()
    env.step(np.zeros((1, 1), np.float32))
    with pytest.raises(NonFiniteError, match=r"env 0 returned a non-finite observation\['goal'\] at step 2"):
        env.step(np.zeros((1, 1), np.float32))
    env = VecCheckFinite(DummyVecEnv([lambda: DictEnv("terminal")]))
    env.reset()
    for _ in range(2):
        env.step(np.zeros((1, 1), np.float32))
    with pytest.raises(NonFiniteError, match=r"env 0 returned a non-finite terminal_observation\['pos'\] at step 3"):
        env.step(np.zeros((1, 1), np.float32))
    with pytest.raises(NonFiniteError, match="non-finite action for env 0 at step 3"):
        env.step(np.full((1, 1), np.nan, np.float32))


def test_vec_check_finite_stops_recurrent_ppo_before_a_nan_reward_reaches_its_weights() -> None:
    """sb3-contrib's RecurrentPPO stores a NaN reward and trains on it; wrapped, it stops at that step."""
    from rrl_sb3.common import VecCheckFinite

    model = build("RecurrentPPO-MlpGruPolicy", VecCheckFinite(poisoned_pendulum("reward", at=50)))
    snapshots = Snapshots()
    with pytest.raises(NonFiniteError, match="env 1 returned a non-finite reward at step 50"):
        model.learn(400, callback=snapshots)
    assert model._n_updates > 0  # it came mid-training
    assert_params_finite_and_equal(model, snapshots.last)
    assert np.isfinite(model.rollout_buffer.rewards).all()


def test_vec_check_finite_changes_nothing_on_finite_data() -> None:
    from rrl_sb3.common import VecCheckFinite

    def run(wrap: bool) -> dict[str, th.Tensor]:
        env = make_vec_env("Pendulum-v1", n_envs=2, seed=0)
        model = build("RecurrentPPO-MlpGruPolicy", VecCheckFinite(env) if wrap else env)
        return model.learn(200).policy.state_dict()

    plain, wrapped = run(False), run(True)
    assert all(th.equal(plain[k], wrapped[k]) for k in plain)
