"""RecurrentSAC's own checks: construction, masks and targets, the recurrent state it carries, squashing, updates.

What every algorithm must do (SB3 contract, save/load, seeding, memory probes) is in test_contract.py.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure

from rrl_sb3 import RecurrentSAC
from rrl_sb3.common.buffers import SequenceReplayBufferSamples
from rrl_sb3.envs import MemoryCueContinuous, MemoryCueDiscrete
from rrl_sb3.sac import RecurrentSACPolicy, sequence_masks, soft_td_targets
from rrl_sb3.sac.policies import SquashedGaussian
from tests.checks import (
    ACTION_SPACES,
    OBSERVATION_SPACES,
    SAC_TINY,
    ExtremeActionEnv,
    SpaceEnv,
    assert_carries_state_and_round_trips,
)

TINY = SAC_TINY


def tiny(env, **kwargs) -> RecurrentSAC:
    return RecurrentSAC("MlpPolicy", env, **{**TINY, "seed": 0, **kwargs})


def short_pendulum(n_envs: int = 1, steps: int = 20, **kwargs):
    return make_vec_env("Pendulum-v1", n_envs=n_envs, seed=0, env_kwargs={"max_episode_steps": steps}, **kwargs)


def memory_env(n_envs: int = 1, delay: int = 1):
    return make_vec_env(MemoryCueContinuous, n_envs=n_envs, seed=0, env_kwargs={"delay": delay})


# --- construction ---------------------------------------------------------------------------------------------------


def test_default_rnn_type_and_entropy_tuning() -> None:
    model = RecurrentSAC("rrl_sb3/PendulumNoVel-v1")
    assert isinstance(model.actor.encoder.rnn, th.nn.GRU) and isinstance(model.critic.encoder.rnn, th.nn.GRU)
    assert model.ent_coef_optimizer is not None
    lstm = RecurrentSAC("Pendulum-v1", policy_kwargs=dict(rnn_type="lstm", rnn_hidden_size=8))
    assert isinstance(lstm.actor.encoder.rnn, th.nn.LSTM)


def test_actor_and_critics_have_separate_encoders() -> None:
    policy = tiny("Pendulum-v1").policy
    actor_params = {id(p) for p in policy.actor.parameters()}
    critic_params = {id(p) for p in policy.critic.parameters()}
    target_params = {id(p) for p in policy.critic_target.parameters()}
    assert not actor_params & critic_params and not critic_params & target_params
    assert len(policy.critic.q_heads) == 2
    # the critics read the previous reward, the actor does not (predict never sees rewards)
    assert policy.critic.encoder.embed[0].in_features == policy.actor.encoder.embed[0].in_features + 1
    assert not any(p.requires_grad for p in policy.critic_target.parameters())


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        (("NotAnEnv-v0",), {}, ValueError, "NotAnEnv-v0"),
        (("MlpPolicy", "Pendulum-v1"), {"batch_size": 0}, ValueError, "batch_size=0"),
        (("MlpPolicy", "Pendulum-v1"), {"sequence_length": 1}, ValueError, "sequence_length=1"),
        (("MlpPolicy", "Pendulum-v1"), {"burn_in": 7}, ValueError, "burn_in=7"),
        (("MlpPolicy", "Pendulum-v1"), {"gamma": 1.5}, ValueError, "gamma=1.5"),
        (("MlpPolicy", "Pendulum-v1"), {"tau": 0}, ValueError, "tau=0"),
        (("MlpPolicy", "Pendulum-v1"), {"gradient_steps": -2}, ValueError, "gradient_steps=-2"),
        (("MlpPolicy", "Pendulum-v1"), {"train_freq": 0}, ValueError, "train_freq=0"),
        (("MlpPolicy", "Pendulum-v1"), {"ent_coef": "autox"}, ValueError, "ent_coef='autox'"),
        (("MlpPolicy", "Pendulum-v1"), {"ent_coef": "auto_-1"}, ValueError, "ent_coef='auto_-1'"),
        (("MlpPolicy", "Pendulum-v1"), {"ent_coef": -0.1}, ValueError, "ent_coef=-0.1"),
        (("MlpPolicy", "Pendulum-v1"), {"target_entropy": "high"}, ValueError, "target_entropy='high'"),
        (("MlpPolicy", "Pendulum-v1"), {"learning_rate": -1.0}, ValueError, "learning_rate=-1.0"),
        (("MlpPolicy", "Pendulum-v1"), {"max_grad_norm": 0}, ValueError, "max_grad_norm=0"),
        (("MlpPolicy", "Pendulum-v1"), {"buffer_size": 5}, ValueError, "buffer_size=5"),
        (("MlpPolicy", "Pendulum-v1"), {"policy_kwargs": {"rnn_type": "rnn"}}, ValueError, "rnn_type='rnn'"),
        (("MlpPolicy", "Pendulum-v1"), {"policy_kwargs": {"rnn_hidden_size": 0}}, ValueError, "rnn_hidden_size=0"),
        (("MlpPolicy", "Pendulum-v1"), {"policy_kwargs": {"net_arch": [0]}}, ValueError, r"net_arch=\[0\]"),
        (("CnnPolicy", "Pendulum-v1"), {}, ValueError, "CnnPolicy"),
    ],
)
def test_bad_arguments(args, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        RecurrentSAC(*args, **{**TINY, **kwargs})


def test_unsupported_spaces() -> None:
    env = gym.make("Pendulum-v1")
    env.action_space = spaces.MultiDiscrete([2, 2])
    with pytest.raises(ValueError, match=r"flat Box .* and Discrete action spaces, got MultiDiscrete"):
        RecurrentSAC("MlpPolicy", env, **TINY)
    env = gym.make("Pendulum-v1")
    env.observation_space = spaces.Dict({"a": spaces.Box(-1, 1, (2,))})
    with pytest.raises(ValueError, match=r"MultiInputPolicy"):
        RecurrentSAC("MlpPolicy", env, **TINY)
    env.observation_space = spaces.Dict({"a": spaces.Dict({"b": spaces.Discrete(2)})})
    with pytest.raises(ValueError, match=r"nested Dict"):
        RecurrentSAC("MultiInputPolicy", env, **TINY)
    env.observation_space = spaces.Tuple([spaces.Discrete(2)])
    with pytest.raises(ValueError, match=r"observation_space=Tuple.*FlattenObservation"):
        RecurrentSAC("MlpPolicy", env, **TINY)
    env = gym.make("Pendulum-v1")
    env.action_space = spaces.Box(-np.inf, np.inf, (1,))
    with pytest.raises(ValueError, match="finite bounds"):
        RecurrentSAC("MlpPolicy", env, **TINY)


@pytest.mark.parametrize("action", ["Box", "Discrete"])
@pytest.mark.parametrize("observation", sorted(OBSERVATION_SPACES))
def test_every_observation_space(observation: str, action: str, tmp_path: Any) -> None:
    """Construct, learn (updates included), predict with a carried state, save/load round trip and evaluate."""
    space = OBSERVATION_SPACES[observation]
    env = make_vec_env(lambda: SpaceEnv(space, ACTION_SPACES[action]), n_envs=2, seed=0)
    policy = {"Dict": "MultiInputPolicy"}.get(observation, "CnnPolicy" if observation.startswith("image") else "MlpPolicy")
    kwargs = {**TINY["policy_kwargs"], "features_extractor_kwargs": {"features_dim": 8} if policy == "CnnPolicy" else {}}
    model = RecurrentSAC(policy, env, **{**TINY, "policy_kwargs": kwargs, "learning_starts": 20}, seed=0)
    model.learn(60)
    assert model._n_updates > 0
    subspaces = space.spaces if isinstance(space, spaces.Dict) else {"": space}
    stored = model.replay_buffer.observations if isinstance(space, spaces.Dict) else {"": model.replay_buffer.observations}
    for key, subspace in subspaces.items():
        assert stored[key].dtype == (np.int64 if isinstance(subspace, spaces.Discrete) else subspace.dtype)
    assert_carries_state_and_round_trips(model, env, tmp_path)


def test_discrete_actions() -> None:
    """Categorical actor, one Q output per action, the previous action carried one-hot, the entropy target."""
    env = make_vec_env(MemoryCueDiscrete, n_envs=2, seed=0, env_kwargs={"n_cues": 3, "delay": 1})
    model = RecurrentSAC("MlpPolicy", env, **{**TINY, "learning_starts": 20}, seed=0)
    assert model.target_entropy == pytest.approx(0.5 * np.log(3))
    assert model.critic.q_heads[0][-1].out_features == 3 and model.actor.head[-1].out_features == 3
    model.learn(60)
    assert model.replay_buffer.prev_actions.dtype == np.int64
    obs = env.reset()
    action, state = model.predict(obs, episode_start=np.ones(2, dtype=bool), deterministic=True)
    assert action.dtype == np.int64 and action.shape == (2,)
    np.testing.assert_array_equal(state[-1][0], np.eye(3)[action])  # the action taken, one-hot, for the next step
    losses = model.compute_losses(model.replay_buffer.sample(4, 8))
    assert losses.probs is not None and th.allclose(losses.probs.sum(-1), th.ones(()))
    entropy = -(losses.probs * losses.log_probs).sum(-1)
    assert th.allclose(losses.log_prob, -entropy)
    # the actor moves probability towards the action the critics value most
    model.critic.q_all = lambda h, f: th.stack([th.tensor([0.0, 5.0, 0.0]).expand(*h.shape[:-1], 3)] * 2)
    before = losses.probs[..., 1].mean()
    model.actor_loss(losses).backward()
    with th.no_grad():
        for param in model.actor.parameters():
            param -= 0.1 * param.grad
    after = model.compute_losses(model.replay_buffer.sample(4, 8)).probs[..., 1].mean()
    assert after > before


# --- masks and targets ----------------------------------------------------------------------------------------------


def test_sequence_masks() -> None:
    # one column, time-major: a chunk entering mid-episode, the episode ends (row 3, final), a new one starts (row 4)
    is_first = th.tensor([0, 0, 0, 0, 1, 0, 0.0]).view(-1, 1)
    terminated = th.tensor([0, 0, 0, 1, 0, 0, 0.0]).view(-1, 1)
    truncated = th.zeros(7, 1)
    masks = sequence_masks(is_first, terminated, truncated, burn_in=0)
    assert masks.actor.flatten().tolist() == [True, True, True, False, True, True, True]
    assert masks.critic.flatten().tolist() == [True, True, True, False, True, True]  # 3 -> 4 crosses episodes
    masks = sequence_masks(is_first, truncated, terminated, burn_in=2)  # the same with a truncation
    assert masks.actor.flatten().tolist() == [False, False, True, False, True, True, True]
    assert masks.critic.flatten().tolist() == [False, False, True, False, True, True]
    # an episode starting in the chunk has its exact state: no burn-in for it
    masks = sequence_masks(th.tensor([1.0, 0, 0, 0]).view(-1, 1), th.zeros(4, 1), th.zeros(4, 1), burn_in=2)
    assert masks.actor.all() and masks.critic.all()


def test_soft_targets_bootstrap_through_truncation_not_termination() -> None:
    rewards = th.tensor([1.0, 1.0, 1.0])
    terminated = th.tensor([0.0, 1.0, 0.0])  # the middle o_{t+1} is terminal; the last is, e.g., a truncation
    next_q = th.tensor([10.0, 10.0, 10.0])
    log_prob = th.tensor([-1.0, -1.0, -1.0])
    targets = soft_td_targets(rewards, terminated, next_q, log_prob, ent_coef=0.5, gamma=0.9)
    th.testing.assert_close(targets, th.tensor([1 + 0.9 * 10.5, 1.0, 1 + 0.9 * 10.5]))
    # nothing from beyond a terminal state leaks in, not even a non-finite value
    targets = soft_td_targets(rewards, terminated, th.tensor([0.0, float("inf"), 0.0]), log_prob, 0.5, 0.9)
    assert targets[1] == 1.0


def hand_batch(final: str) -> SequenceReplayBufferSamples:
    """One chunk of 5 rows: an episode o_0..o_3 that ends at row 3 (terminated or truncated), then a new one."""
    obs = th.tensor([[0.1, 0.2, 0.3], [0.2, 0.3, 0.4], [0.3, 0.4, 0.5], [0.4, 0.5, 0.6], [0.9, 0.8, 0.7]])
    prev_actions = th.tensor([[0.0], [0.5], [-0.5], [0.25], [0.0]])
    rewards = th.tensor([0.0, -1.0, -2.0, -3.0, 0.0])
    flag = th.tensor([0.0, 0, 0, 1, 0])
    return SequenceReplayBufferSamples(
        observations=obs[None],
        prev_actions=prev_actions[None],
        rewards=rewards[None],
        terminated=(flag if final == "terminated" else th.zeros(5))[None],
        truncated=(flag if final == "truncated" else th.zeros(5))[None],
        is_first=th.tensor([[1.0, 0, 0, 0, 1]]),
    )


@pytest.mark.parametrize("final", ["terminated", "truncated"])
def test_critic_target_of_last_transition(final: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny("Pendulum-v1", gamma=0.9, ent_coef=0.0)
    captured = {}
    real = model.critic.q_values

    def constant_target(h, obs, action):
        return th.full((2, *h.shape[:-1]), 7.0)

    def spy(h, obs, action):
        values = real(h, obs, action)
        captured.setdefault("q", values)
        return values

    monkeypatch.setattr(model.critic_target, "q_values", constant_target)
    monkeypatch.setattr(model.critic, "q_values", spy)
    losses = model.compute_losses(hand_batch(final))
    q = captured["q"][:, :, 0].detach()  # (n_critics, L - 1) for the one chunk
    # transitions 0 -> 1, 1 -> 2, 2 -> 3 are valid; 3 -> 4 crosses into the next episode
    last_target = -3.0 + (0.0 if final == "terminated" else 0.9 * 7.0)
    targets = th.tensor([-1.0 + 6.3, -2.0 + 6.3, last_target])
    expected = 0.5 * ((q[:, :3] - targets) ** 2).sum() / 3
    th.testing.assert_close(losses.critic, expected)


def loss_and_grads(model: RecurrentSAC, data: SequenceReplayBufferSamples) -> tuple[list[float], list[th.Tensor]]:
    th.manual_seed(0)
    model.policy.zero_grad(set_to_none=False)
    if model.log_ent_coef is not None:
        model.log_ent_coef.grad = None
    losses = model.compute_losses(data)
    actor_loss = model.actor_loss(losses)
    (losses.critic + actor_loss + losses.ent_coef_loss).backward()
    values = [losses.critic.item(), actor_loss.item(), losses.ent_coef_loss.item()]
    grads = [p.grad.clone() for p in model.policy.parameters() if p.grad is not None] + [model.log_ent_coef.grad.clone()]
    return values, grads


@pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
def test_invalid_positions_do_not_affect_losses(rnn_type: str) -> None:
    env = make_vec_env("Pendulum-v1", n_envs=2, seed=0, env_kwargs={"max_episode_steps": 6})
    kwargs = dict(TINY["policy_kwargs"], rnn_type=rnn_type)
    model = tiny(env, learning_starts=0, policy_kwargs=kwargs)
    model.learn(60)
    data = model.replay_buffer.sample(16, 10)
    assert data.is_first[:, 1:].sum() > 4
    values, grads = loss_and_grads(model, data)
    # What lies beyond an episode boundary: the "transition" from a final observation to the first of the next
    # episode (stored with that first observation) and the previous action/reward fields of a first observation.
    first = data.is_first.bool()
    poisoned = data._replace(
        rewards=th.where(first, 1e6, data.rewards), prev_actions=th.where(first[..., None], -1e6, data.prev_actions)
    )
    poisoned_values, poisoned_grads = loss_and_grads(model, poisoned)
    assert values == poisoned_values
    for a, b in zip(grads, poisoned_grads, strict=True):
        assert th.equal(a, b)
    # with burn-in, the critic and actor losses skip the first rows of an episode begun before the chunk
    model.burn_in = 3
    masks = sequence_masks(*(x.transpose(0, 1) for x in (data.is_first, data.terminated, data.truncated)), 3)
    assert (~masks.actor[:3]).sum() > 0 and masks.actor[3:].sum() > 0
    assert loss_and_grads(model, data)[0] != values


def test_terminal_observation_does_not_bootstrap() -> None:
    model = tiny(memory_env(delay=2), learning_starts=0)
    model.learn(60)
    data = model.replay_buffer.sample(8, 8)
    terminal = data.terminated.bool()
    assert terminal.sum() > 0
    values, grads = loss_and_grads(model, data)
    # the observation reached at a termination only feeds targets multiplied by (1 - terminated)
    poisoned = data._replace(observations=th.where(terminal[..., None], 1e6, data.observations))
    poisoned_values, poisoned_grads = loss_and_grads(model, poisoned)
    assert values == poisoned_values
    for a, b in zip(grads, poisoned_grads, strict=True):
        assert th.equal(a, b)


# --- recurrent state ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
def test_acting_step_by_step_equals_training_unroll(rnn_type: str) -> None:
    policy = RecurrentSACPolicy(
        spaces.Box(-1, 1, (3,)), spaces.Box(-2, 2, (2,)), lambda _: 1e-3, rnn_type=rnn_type, rnn_hidden_size=8, embed_dim=4
    )
    th.manual_seed(0)
    length, batch = 7, 3
    obs = th.randn(length, batch, 3)
    is_first = th.zeros(length, batch)
    is_first[0] = 1
    is_first[3, 0] = is_first[5, 2] = 1
    # acting: the state carries the deterministic action, which is the next step's previous action
    state, actions, hs = policy.initial_state(batch), [], []
    for t in range(length):
        action, state = policy.step(obs[t], state, is_first[t], deterministic=True)
        actions.append(action)
        hs.append(state.rnn[0][-1])
    prev_actions = th.stack([th.zeros(batch, 2), *actions[:-1]])
    h, _ = policy.actor.encoder(obs, prev_actions, None, is_first)
    th.testing.assert_close(h, th.stack(hs))
    th.testing.assert_close(policy.actor.distribution(h, obs).mode(), th.stack(actions))
    # resetting at row 3 of column 0 makes it equal to a fresh unroll of rows 3.. from the initial state
    h_fresh, _ = policy.actor.encoder(obs[3:, :1], prev_actions[3:, :1], None, is_first[3:, :1])
    th.testing.assert_close(h[3:, :1], h_fresh)


def test_predict_state_holds_the_previous_action_and_is_validated() -> None:
    # (the layout, carrying and resets per env: test_contract.py)
    model = tiny("Pendulum-v1")
    obs = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, -0.5]], dtype=np.float32)
    action_fresh, fresh = model.predict(obs, deterministic=True)
    np.testing.assert_allclose(model.policy.scale_action(action_fresh), fresh[1][0], atol=1e-6)
    _, carried = model.predict(obs, state=fresh, episode_start=np.zeros(2), deterministic=True)
    _, reset = model.predict(obs, state=carried, episode_start=np.array([1, 0]), deterministic=True)
    for part_reset, part_carried in zip(reset, carried, strict=True):
        assert not np.array_equal(part_reset[:, 1], part_carried[:, 1])  # env 1 carries on: its state moves
    with pytest.raises(ValueError, match="state must be the tuple returned by predict"):
        model.predict(obs, state=(fresh[0],))
    with pytest.raises(ValueError, match="episode_start must have one flag per env"):
        model.predict(obs, state=fresh, episode_start=np.zeros(3))
    single, state = model.predict(obs[0], deterministic=True)
    assert single.shape == (1,) and state[0].shape == (1, 1, 16)


def test_learn_carries_state_and_resets_after_done(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny(memory_env(n_envs=2, delay=2), learning_starts=10)
    seen = []
    real_step = model.policy.step

    def spy(obs, state, episode_start, deterministic=False):
        seen.append((state.rnn[0].clone(), state.prev_action.clone(), episode_start.clone()))
        return real_step(obs, state, episode_start, deterministic)

    monkeypatch.setattr(model.policy, "step", spy)
    model.learn(16)  # 8 steps of 2 envs: episodes of 3 steps
    starts = th.stack([s for _, _, s in seen])
    np.testing.assert_array_equal(starts[:, 0].numpy(), [1, 0, 0, 1, 0, 0, 1, 0])
    assert all(seen[t][0].abs().sum() > 0 for t in (1, 2, 4, 5))  # a carried state reaches the next step
    # the carried previous action is the action stored in the buffer (random ones during learning_starts included)
    buffer = model.replay_buffer
    # (step 3k + j of an env reads row 4k + j: each 3-step episode takes 4 rows)
    for step, row in ((1, 1), (2, 2), (5, 6), (6, 7)):
        np.testing.assert_allclose(seen[step][1][0].numpy(), buffer.prev_actions[row], atol=1e-6)


# --- squashing --------------------------------------------------------------------------------------------------------


def test_squashed_gaussian_log_prob() -> None:
    mean, log_std = th.tensor([[0.3, -1.0]]), th.tensor([[-0.5, 0.2]])
    dist = SquashedGaussian(mean, log_std)
    reference = th.distributions.TransformedDistribution(
        th.distributions.Normal(mean, log_std.exp()), [th.distributions.TanhTransform()]
    )
    u = th.tensor([[0.5, -2.0]])
    th.testing.assert_close(dist.log_prob_pre_tanh(u), reference.log_prob(th.tanh(u)).sum(-1))
    # far in the tails tanh(u) rounds to +-1 in float32; the log-density stays finite and its gradient too
    u = th.tensor([[60.0, -60.0]], requires_grad=True)
    extreme = SquashedGaussian(th.tensor([[50.0, -50.0]], requires_grad=True), th.zeros(1, 2))
    log_prob = extreme.log_prob_pre_tanh(u)
    log_prob.sum().backward()
    assert th.isfinite(log_prob).all() and th.isfinite(u.grad).all() and th.equal(th.tanh(u).abs(), th.ones(1, 2))


def test_finite_losses_with_actions_at_the_bounds(tmp_path) -> None:
    model = tiny(ExtremeActionEnv(), learning_starts=20, learning_rate=3e-3)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(300, log_interval=1)
    model.logger.close()
    assert model._n_updates == 280
    assert all(th.isfinite(p).all() for p in model.policy.parameters())
    actions, _ = model.predict(np.zeros((5, 2), dtype=np.float32), deterministic=True)
    assert np.all(np.abs(actions) > 0.8)
    # stored actions exactly at the bounds, and an actor whose tanh saturates to exactly +-1 in float32
    data = model.replay_buffer.sample(8, 8)
    data = data._replace(prev_actions=th.where(data.prev_actions >= 0, 1.0, -1.0))
    with th.no_grad():
        model.actor.head[-1].bias.copy_(th.tensor([50.0, -20.0]))  # mean 50, log_std at its floor
    values, grads = loss_and_grads(model, data)
    assert np.isfinite(values).all() and all(th.isfinite(g).all() for g in grads)
    with th.no_grad():
        h, _ = model.actor.encoder(data.observations.transpose(0, 1), data.prev_actions.transpose(0, 1), None,
                                   data.is_first.transpose(0, 1))  # fmt: skip
        actions, log_prob = model.actor.distribution(h, data.observations.transpose(0, 1)).rsample()
    assert th.equal(actions, th.ones_like(actions)) and th.isfinite(log_prob).all()
    rows = (tmp_path / "progress.csv").read_text().splitlines()
    header = rows[0].split(",")
    columns = [i for i, key in enumerate(header) if key.startswith("train/")]
    values = [float(row.split(",")[i]) for row in rows[1:] for i in columns if row.split(",")[i]]
    assert len(values) > 100 and np.all(np.isfinite(values))


# --- updates per env step -------------------------------------------------------------------------------------------


def test_gradient_steps_per_env_step() -> None:
    model = tiny(short_pendulum(), learning_starts=40, train_freq=2, gradient_steps=3)
    model.learn(100)
    assert model._n_updates == 90  # 60 steps after learning_starts, 3 updates every 2 steps
    model = tiny(short_pendulum(n_envs=2), learning_starts=40, train_freq=1, gradient_steps=-1)
    model.learn(100)
    assert model._n_updates == 60  # one per env step collected after the first 40: 30 steps of 2 envs


# --- save / load (the round trip itself: test_contract.py) ----------------------------------------------------------


def test_fixed_ent_coef_saves_and_loads(tmp_path) -> None:
    model = tiny(short_pendulum(), ent_coef=0.05)
    model.learn(50)
    assert model.ent_coef_optimizer is None
    model.save(tmp_path / "sac")
    loaded = RecurrentSAC.load(tmp_path / "sac", device="cpu")
    assert loaded.ent_coef_tensor.item() == pytest.approx(0.05)


def test_load_replay_buffer_checks_and_truncates(tmp_path) -> None:
    model = tiny(short_pendulum(steps=200))
    model.learn(50)
    model.save_replay_buffer(tmp_path / "buffer")
    model.load_replay_buffer(tmp_path / "buffer")
    last = int(model.replay_buffer.pos[0]) - 1
    assert model.replay_buffer.truncated[last, 0]  # the interrupted episode ends as truncated
    other = tiny(short_pendulum(n_envs=2))
    own = other.replay_buffer
    with pytest.raises(ValueError, match="built for 1 envs"):
        other.load_replay_buffer(tmp_path / "buffer")
    assert other.replay_buffer is own
