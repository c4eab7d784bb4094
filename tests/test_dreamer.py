"""Dreamer's own checks: construction errors, the seed notebook's eight defects, finite training.

What every algorithm must do (SB3 contract, save/load, seeding, memory probes) is in test_contract.py.
"""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure

from rrl_sb3 import Dreamer
from rrl_sb3.common.math import symlog
from rrl_sb3.dreamer import behavior as behavior_module
from rrl_sb3.dreamer import world_model as world_model_module
from rrl_sb3.dreamer.policies import DreamerPolicy
from rrl_sb3.dreamer.world_model import RSSM, Latent, ObservationCodec, WorldModel
from rrl_sb3.envs import MemoryCueDiscrete
from tests.checks import (
    ACTION_SPACES,
    DREAMER_TINY,
    OBSERVATION_SPACES,
    ExtremeActionEnv,
    SpaceEnv,
    assert_carries_state_and_round_trips,
)

TINY = DREAMER_TINY


def tiny(env, **kwargs) -> Dreamer:
    return Dreamer("MlpPolicy", env, **{**TINY, "seed": 0, **kwargs})


def short_pendulum(n_envs: int = 1, steps: int = 20, **kwargs):
    return make_vec_env("Pendulum-v1", n_envs=n_envs, seed=0, env_kwargs={"max_episode_steps": steps}, **kwargs)


# --- construction ---------------------------------------------------------------------------------------------------


def test_discrete_actions_select_reinforce_gradients_and_one_hot_acting() -> None:
    # (Box actions select dynamics backpropagation: test_contract's env-id check)
    assert Dreamer(env="rrl_sb3/CartPoleNoVel-v1", **TINY).actor_gradient == "reinforce"
    assert tiny("rrl_sb3/MemoryCue-v0").policy.discrete


@pytest.mark.parametrize("latent", ["mode", "sample"])
def test_deterministic_latent_of_deterministic_steps(latent: str, tmp_path) -> None:
    """A deterministic step takes the actor's mode on the posterior latent's mode, or on a sample of it (as in
    training); the choice survives save/load."""
    model = tiny("Pendulum-v1", policy_kwargs={**TINY["policy_kwargs"], "deterministic_latent": latent})
    model.save(tmp_path / "model")
    model = Dreamer.load(tmp_path / "model")
    assert model.policy.deterministic_latent == latent
    obs = np.zeros((1, 3), dtype=np.float32)
    states = []
    for seed in (1, 2):
        th.manual_seed(seed)
        _, state = model.predict(obs, episode_start=np.ones(1, dtype=bool), deterministic=True)
        states.append(state[1])  # the stochastic latent z
    assert np.array_equal(*states) == (latent == "mode")


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        (("NotAnEnv-v0",), {}, ValueError, "NotAnEnv-v0"),
        (("MlpPolicy", "Pendulum-v1"), {"batch_size": 0}, ValueError, "batch_size=0"),
        (("MlpPolicy", "Pendulum-v1"), {"gamma": 1.5}, ValueError, "gamma=1.5"),
        (("MlpPolicy", "Pendulum-v1"), {"train_ratio": -1}, ValueError, "train_ratio=-1"),
        (("MlpPolicy", "Pendulum-v1"), {"actor_gradient": "magic"}, ValueError, "actor_gradient='magic'"),
        (("MlpPolicy", "Pendulum-v1"), {"buffer_size": 5}, ValueError, "buffer_size=5"),
        (("MlpPolicy", "Pendulum-v1"), {"policy_kwargs": {"latent": "beta"}}, ValueError, "latent='beta'"),
        (("MlpPolicy", "Pendulum-v1"), {"policy_kwargs": {"deter": 0}}, ValueError, "deter=0"),
        (
            ("MlpPolicy", "Pendulum-v1"),
            {"policy_kwargs": {"deterministic_latent": "mean"}},
            ValueError,
            "deterministic_latent",
        ),
        (("CnnPolicy", "Pendulum-v1"), {}, ValueError, "CnnPolicy"),
        (("MlpPolicy", "Pendulum-v1"), {"imagine_starts": 0}, ValueError, "imagine_starts=0"),
        (("MlpPolicy", "Pendulum-v1"), {"imagine_starts": 9}, ValueError, "at most sequence_length=8.*imagine_starts=9"),
        (("MlpPolicy", "Pendulum-v1"), {"imagine_starts": "all"}, ValueError, "'auto', None or an integer.*='all'"),
        (("MlpPolicy", "Pendulum-v1"), {"imagine_subset": "first"}, ValueError, "imagine_subset='first'"),
        (("MlpPolicy", "Pendulum-v1"), {"continue_scale": -1.0}, ValueError, "continue_scale=-1.0"),
        (("MlpPolicy", "Pendulum-v1"), {"terminal_share": 1.5}, ValueError, "terminal_share=1.5"),
        (("MlpPolicy", "Pendulum-v1"), {"continue_loss": "sum"}, ValueError, "continue_loss='sum'"),
        (("MlpPolicy", "Pendulum-v1"), {"replay_value_bootstrap": "slow"}, ValueError, "replay_value_bootstrap='slow'"),
    ],
)
def test_bad_arguments(args, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        Dreamer(*args, **{**TINY, **kwargs})


def test_unsupported_spaces() -> None:
    nested = spaces.Dict({"a": spaces.Dict({"b": spaces.Discrete(2)})})
    with pytest.raises(ValueError, match=r"nested Dict"):
        Dreamer("MultiInputPolicy", SpaceEnv(nested, spaces.Discrete(2)), **TINY)
    dotted = spaces.Dict({"a.b": spaces.Discrete(2)})
    with pytest.raises(ValueError, match=r"keys that are non-empty and without '\.', got 'a\.b'"):
        Dreamer("MultiInputPolicy", SpaceEnv(dotted, spaces.Discrete(2)), **TINY)
    small = spaces.Dict({"cam": spaces.Box(0, 255, (4, 4, 3), np.uint8)})
    with pytest.raises(ValueError, match=r"at least 8 x 8, got observation_space\['cam'\]"):
        Dreamer("MultiInputPolicy", SpaceEnv(small, spaces.Discrete(2)), **TINY)
    tiny_image = spaces.Box(0, 255, (4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match=r"images of at least 8 x 8"):
        Dreamer("MlpPolicy", SpaceEnv(tiny_image, spaces.Discrete(2)), **TINY)
    with pytest.raises(ValueError, match=r"observation_space=Tuple.*FlattenObservation"):
        Dreamer("MlpPolicy", SpaceEnv(spaces.Tuple([spaces.Discrete(2)]), spaces.Discrete(2)), **TINY)
    env = gym.make("Pendulum-v1")
    env.action_space = spaces.MultiBinary((2, 2))
    with pytest.raises(
        ValueError, match=r"flat Box, Discrete, MultiDiscrete and flat MultiBinary action spaces, got MultiBinary"
    ):
        Dreamer("MlpPolicy", env, **TINY)


@pytest.mark.parametrize("action", ["Box", "Discrete"])
@pytest.mark.parametrize("observation", sorted(OBSERVATION_SPACES))
def test_every_observation_space(observation: str, action: str, tmp_path) -> None:
    """Construct, learn (updates included), predict with a carried state, save/load round trip and evaluate."""
    space = OBSERVATION_SPACES[observation]
    env = make_vec_env(lambda: SpaceEnv(space, ACTION_SPACES[action]), n_envs=2, seed=0)
    policy = {"Dict": "MultiInputPolicy"}.get(observation, "CnnPolicy" if observation.startswith("image") else "MlpPolicy")
    kwargs = {**TINY, "learning_starts": 20, "policy_kwargs": {**TINY["policy_kwargs"], "cnn_depth": 4}}
    model = Dreamer(policy, env, seed=0, **kwargs)
    model.learn(60)
    assert model._n_updates > 0 and np.isfinite(model.logger.name_to_value["train/obs_loss"])
    assert_carries_state_and_round_trips(model, env, tmp_path)


@pytest.mark.parametrize("action", sorted(ACTION_SPACES))
def test_every_action_space(action: str, tmp_path) -> None:
    """Box, Discrete, MultiDiscrete and MultiBinary actions (the last two one categorical per variable or bit)."""
    space = ACTION_SPACES[action]
    env = make_vec_env(lambda: SpaceEnv(OBSERVATION_SPACES["Box-1d"], space), n_envs=2, seed=0)
    model = tiny(env, learning_starts=20)
    assert model.actor_gradient == ("dynamics" if action == "Box" else "reinforce")
    model.learn(60)
    actions, _ = model.predict(env.reset(), deterministic=True)
    assert all(space.contains(a) for a in actions)
    if action == "MultiBinary":  # a two-valued categorical per bit, read one-hot
        assert model.policy.action_groups == (2,) * space.n and model.policy.action_dim == 2 * space.n
        stored = th.as_tensor(model.replay_buffer.prev_actions[1:3, 0])
        assert th.equal(model.policy.model_action(stored).view(2, space.n, 2).argmax(-1), stored)
    assert_carries_state_and_round_trips(model, env, tmp_path)


@pytest.mark.parametrize("shape", [(36, 36, 3), (1, 64, 64), (3, 16, 16), (37, 50, 1), (8, 8, 4)])
def test_image_encoder_and_decoder_keep_the_image_size(shape: tuple[int, int, int]) -> None:
    space = spaces.Box(0, 255, shape, np.uint8)
    model = WorldModel(space, action_dim=2, hidden=16, layers=1, cnn_depth=4, rssm_kwargs=dict(deter=16, stoch=4, classes=4))
    obs = th.as_tensor(np.stack([space.sample() for _ in range(6)])).view(2, 3, *shape)  # (B, L, ...)
    embed = model.encode(obs, 2)
    assert embed.shape == (2, 3, 16)
    features = th.randn(2, 3, model.feature_dim)
    images = model.decoder(features.reshape(-1, model.feature_dim))
    channels_first = shape[0] in (1, 3, 4) and shape[0] < shape[-1]
    c, h, w = shape if channels_first else (shape[2], shape[0], shape[1])
    assert images.shape == (6, c, h, w)
    assert model.codec.loss(images, obs, 2).shape == (2, 3) and model.observation_loss(features, obs, 2).shape == (2, 3)
    # a perfect reconstruction costs nothing: the target is the image in [-0.5, 0.5], channel-first
    assert model.codec.loss(model.codec.images(obs, 2), obs, 2).abs().max() == 0


def test_dict_observations_get_an_encoder_and_a_decoder_per_key() -> None:
    space = OBSERVATION_SPACES["Dict"]  # a 36 x 36 image, a vector and a Discrete
    model = WorldModel(space, action_dim=2, hidden=16, layers=1, cnn_depth=4, rssm_kwargs=dict(deter=16, stoch=4, classes=4))
    assert set(model.encoder) == set(model.decoder) == {"image", "vector", "discrete"}
    assert isinstance(model.encoder["image"], world_model_module.ConvEncoder)
    assert model.decoder["discrete"][-1].out_features == 3  # logits of the categorical reconstruction
    samples = [space.sample() for _ in range(6)]
    obs = {key: th.as_tensor(np.stack([o[key] for o in samples])).view(2, 3, *space[key].shape) for key in space.spaces}
    assert model.encode(obs, 2).shape == (2, 3, 3 * 16)  # the keys' embeddings side by side
    features = th.randn(2, 3, model.feature_dim)
    per_key = [
        model.codecs[key].loss(
            model.decoder[key](features.reshape(-1, model.feature_dim) if key == "image" else features), obs[key], 2
        )
        for key in ("image", "vector", "discrete")
    ]
    assert th.allclose(model.observation_loss(features, obs, 2), sum(per_key))


def test_observation_codec_reads_and_reconstructs_each_space() -> None:
    discrete = ObservationCodec(spaces.Discrete(3))
    inputs = discrete.inputs(th.tensor([[2], [0]]), 1)  # the replay buffer's (n, 1) indices
    assert inputs.tolist() == [[0, 0, 1], [1, 0, 0]] and th.equal(discrete.inputs(th.tensor([2, 0]), 1), inputs)
    perfect = th.tensor([[-9.0, -9.0, 9.0], [9.0, -9.0, -9.0]])
    assert discrete.loss(perfect, th.tensor([2, 0]), 1).max() < 1e-6
    assert discrete.loss(perfect, th.tensor([0, 2]), 1).min() > 10  # wrong classes cost
    multi = ObservationCodec(spaces.MultiDiscrete([2, 3]))
    assert multi.in_dim == 5 and multi.inputs(th.tensor([[1, 2]]), 1).tolist() == [[0, 1, 0, 0, 1]]
    assert multi.loss(th.tensor([[-9.0, 9.0, -9.0, -9.0, 9.0]]), th.tensor([[1, 2]]), 1).item() < 1e-6
    binary = ObservationCodec(spaces.MultiBinary(2))
    assert binary.loss(th.tensor([[9.0, -9.0]]), th.tensor([[1, 0]], dtype=th.int8), 1).item() < 1e-3
    box = ObservationCodec(spaces.Box(-1, 1, (2, 3)))
    obs = th.rand(4, 5, 2, 3)  # (B, L, *shape)
    assert box.inputs(obs, 2).shape == (4, 5, 6)
    assert box.loss(symlog(obs.reshape(4, 5, 6)), obs, 2).abs().max() < 1e-6


# --- defect 1: memory is carried and reset only at episode start ---------------------------------------------------
# (predict's side, with the state layout: test_contract.py)


def test_learn_carries_state_between_steps_and_resets_after_done(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny(make_vec_env(MemoryCueDiscrete, n_envs=2, seed=0, env_kwargs={"delay": 2}), learning_starts=0)
    seen = []
    real_step = model.policy.step

    def spy(obs, state, episode_start, deterministic=False):
        seen.append((state.deter.clone(), episode_start.clone()))
        return real_step(obs, state, episode_start, deterministic)

    monkeypatch.setattr(model.policy, "step", spy)
    model.learn(16)  # 8 steps of 2 envs: episodes of 3 steps
    starts = th.stack([s for _, s in seen])
    np.testing.assert_array_equal(starts[:, 0].numpy(), [1, 0, 0, 1, 0, 0, 1, 0])
    # a carried state reaches the next step (nonzero within an episode)
    assert all(seen[t][0].abs().sum() > 0 for t in (1, 2, 4, 5))


# --- defect 2: imagination starts from the posterior state of every replayed step --------------------------------


def test_imagination_starts_from_every_posterior_state(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny(short_pendulum())
    model.learn(60)
    captured = _spy_update(model, monkeypatch)
    start, posterior = captured["start"], captured["posterior"]
    assert start.deter.shape[0] == model.batch_size * model.sequence_length
    th.testing.assert_close(start.deter, posterior.deter.reshape(start.deter.shape))
    th.testing.assert_close(start.stoch, posterior.stoch.reshape(start.stoch.shape))


def _spy_update(model: Dreamer, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Run one update, capturing imagination's start states and the world model's posterior states."""
    captured: dict = {}
    real_imagine = behavior_module.imagine

    def spy(world_model, actor, start, horizon, with_grad):
        captured["start"] = start
        return real_imagine(world_model, actor, start, horizon, with_grad)

    monkeypatch.setattr(behavior_module, "imagine", spy)
    real_loss = model.policy.world_model.loss

    def loss_spy(*args):
        losses, posterior = real_loss(*args)
        captured["posterior"] = posterior
        return losses, posterior

    monkeypatch.setattr(model.policy.world_model, "loss", loss_spy)
    model._update()
    return captured


@pytest.mark.parametrize("subset", ["last", "random"])
def test_imagination_from_a_subset_of_each_sequence(subset: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """``imagine_starts=k``: exactly k posterior states of each replayed sequence, distinct rows, the last k for
    "last"; random subsets change between updates; the choice survives save/load."""
    model = tiny(short_pendulum(), imagine_starts=3, imagine_subset=subset)
    model.learn(60)
    model.save(tmp_path / "model")
    assert (Dreamer.load(tmp_path / "model").imagine_starts, Dreamer.load(tmp_path / "model").imagine_subset) == (3, subset)
    rows_seen = []
    for _ in range(3):
        captured = _spy_update(model, monkeypatch)
        start, posterior = captured["start"], captured["posterior"]
        batch, length = posterior.deter.shape[:2]
        assert start.deter.shape[0] == batch * 3 and start.stoch.shape[0] == batch * 3
        rows = []
        for b in range(batch):  # which row of sequence b each start state is
            for state in start.deter.view(batch, 3, -1)[b]:
                matches = [t for t in range(length) if th.equal(posterior.deter[b, t], state)]
                assert len(matches) >= 1
                rows.append(matches[0])
        per_sequence = [rows[3 * b : 3 * b + 3] for b in range(batch)]
        assert all(len(set(r)) == 3 for r in per_sequence)
        if subset == "last":
            assert all(r == [length - 3, length - 2, length - 1] for r in per_sequence)
        rows_seen.append(per_sequence)
    if subset == "random":
        assert rows_seen[0] != rows_seen[1] or rows_seen[1] != rows_seen[2]


@pytest.mark.parametrize(
    "kwargs, per_sequence",
    [
        ({}, 8),  # the default, "auto": the last 8 rows of longer sequences
        ({"replay_value_scale": 0.3}, 12),  # every row: the replay value loss bootstraps each one
        ({"replay_value_scale": 0.3, "replay_value_bootstrap": "critic"}, 8),  # the slow critic bootstraps instead
        ({"replay_value_scale": 0.3, "replay_value_bootstrap": "critic", "imagine_starts": 3}, 3),
        ({"sequence_length": 8}, 8),  # sequences of at most 8 rows: all of them
        ({"imagine_starts": None}, 12),
        ({"imagine_starts": 5}, 5),
    ],
)
def test_imagine_starts_auto(kwargs: dict, per_sequence: int, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """``imagine_starts="auto"`` imagines from the last 8 states of each sequence, or from all of them where the
    replay value loss needs them or the sequences are short; "auto" is what save/load keeps."""
    model = tiny(short_pendulum(), **{"sequence_length": 12, **kwargs})
    model.learn(60)
    captured = _spy_update(model, monkeypatch)
    batch, length = captured["posterior"].deter.shape[:2]
    assert captured["start"].deter.shape[0] == batch * per_sequence
    if per_sequence < length:  # the last rows
        last = captured["posterior"].deter[:, -per_sequence:].reshape(-1, captured["posterior"].deter.shape[-1])
        assert th.equal(captured["start"].deter, last)
    model.save(tmp_path / "model")
    assert Dreamer.load(tmp_path / "model").imagine_starts == kwargs.get("imagine_starts", "auto")


def test_default_compute_settings() -> None:
    """The defaults the compute screen chose (issue #26): train ratio 64, imagination from the last 8 of 32 rows."""
    model = Dreamer("Pendulum-v1", _init_setup_model=False)
    assert (model.train_ratio, model.imagine_starts, model.imagine_subset, model.sequence_length) == (64, "auto", "last", 32)
    assert model._imagine_starts() == 8


# --- defect 3: actor maximises returns with an entropy bonus of the right sign ------------------------------------


def test_continue_scale_and_terminal_share(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    model = tiny("CartPole-v1", continue_scale=5.0, terminal_share=0.5)
    shares = []
    sample = model.replay_buffer.sample

    def spy(*args, **kwargs):
        shares.append(kwargs["terminal_share"])
        return sample(*args, **kwargs)

    monkeypatch.setattr(model.replay_buffer, "sample", spy)
    model.learn(200)
    assert shares and set(shares) == {0.5}  # every update's batch keeps half its sequences ending at a termination
    data = sample(4, 8, terminal_share=0.5)
    assert (data.terminated[2:, -1] == 1).all()
    world_model = model.policy.world_model
    losses = {}
    for scale in (1.0, 5.0):
        th.manual_seed(0)  # the same sampled latents for both
        losses[scale], _ = world_model.loss(
            data.observations,
            model.policy.model_action(data.prev_actions),
            data.rewards,
            data.terminated,
            data.is_first,
            scale,
        )
    assert losses[1.0].continuation > 0
    assert th.allclose(losses[5.0].total, losses[1.0].total + 4.0 * losses[1.0].continuation)
    # balanced: the terminal rows and the others weigh half each
    th.manual_seed(0)
    balanced, posterior = world_model.loss(
        data.observations,
        model.policy.model_action(data.prev_actions),
        data.rewards,
        data.terminated,
        data.is_first,
        1.0,
        True,
    )
    per_row = th.nn.functional.binary_cross_entropy_with_logits(
        world_model.continue_head(posterior.features).squeeze(-1), 1.0 - data.terminated, reduction="none"
    )
    ended = data.terminated > 0.5
    assert ended.any() and (~ended).any()
    assert th.allclose(balanced.continuation, 0.5 * per_row[ended].mean() + 0.5 * per_row[~ended].mean())
    model.continue_loss = "balanced"
    model.save(tmp_path / "model")
    loaded = Dreamer.load(tmp_path / "model")
    assert (loaded.continue_scale, loaded.terminal_share, loaded.continue_loss) == (5.0, 0.5, "balanced")


@pytest.mark.parametrize("gradient", ["reinforce", "dynamics"])
def test_entropy_bonus_sign_and_returns_drive_the_actor(gradient: str) -> None:
    model = tiny(short_pendulum())
    model.learn(60)
    policy = model.policy
    data = model.replay_buffer.sample(4, 8)
    _, post = policy.world_model.loss(
        data.observations, policy.model_action(data.prev_actions), data.rewards, data.terminated, data.is_first
    )
    start = Latent(post.deter.reshape(32, -1).detach(), post.stoch.reshape(32, -1).detach())

    def losses(entropy_coef: float):
        th.manual_seed(0)
        settings = behavior_module.BehaviorSettings(5, 0.99, 0.95, entropy_coef, gradient)
        return behavior_module.behavior_losses(policy, start, th.ones(32), settings)

    without, with_bonus = losses(0.0), losses(1.0)
    # More entropy must lower the loss: loss(1) - loss(0) = -mean(weight * entropy) < 0 when entropy > 0
    assert with_bonus.entropy > 0 and with_bonus.actor < without.actor
    # The actor's gradient is driven by the returns: scaling the rewards changes it
    policy.actor.zero_grad()
    without.actor.backward()
    grads = [p.grad.clone() for p in policy.actor.parameters()]
    assert any(g.abs().sum() > 0 for g in grads)


def straightforward_behavior_losses(policy, start: Latent, start_continue: th.Tensor, settings) -> tuple[th.Tensor, th.Tensor]:
    """The actor and critic losses of ``behavior_losses`` computed the plain way: a rollout without gradients and
    the actor run again on it (reinforce), the critic run once for the returns and once more for its own loss."""
    world_model, actor, critic = policy.world_model, policy.actor, policy.critic
    with_grad = settings.actor_gradient == "dynamics"
    state = Latent(start.deter, start.stoch)
    feats, actions, dists = [state.features], [], []
    with th.set_grad_enabled(with_grad):
        for _ in range(settings.horizon):
            dist = actor(feats[-1])
            actions.append(dist.sample())
            state = world_model.rssm.imagine_step(state, actions[-1])
            feats.append(state.features)
            dists.append(dist)
    feats, actions = th.stack(feats), th.stack(actions)
    if with_grad:
        std = None if dists[0].std is None else th.stack([d.std for d in dists])
        dist = behavior_module.ActionDist(dists[0].discrete, th.stack([d.mean_or_probs for d in dists]), std, dists[0].groups)
    else:
        dist = actor(feats[:-1])
    with th.set_grad_enabled(with_grad):
        rewards = world_model.reward(feats[1:])
        continues = th.cat([start_continue.unsqueeze(0), world_model.continue_prob(feats[1:])], 0)
        values = critic.value(feats)
        returns = behavior_module.lambda_returns(
            rewards, values[:-1], continues[1:], values[-1], settings.gamma, settings.lambda_
        )
    weights = th.cumprod(settings.gamma * continues[:-1], 0).detach() / settings.gamma
    normalizer = copy.deepcopy(policy.return_normalizer)
    normalizer.update(returns.detach())
    scale = normalizer.scale
    objective = returns / scale if with_grad else dist.log_prob(actions) * ((returns - values[:-1]).detach() / scale)
    actor_loss = -(weights * (objective + settings.entropy_coef * dist.entropy())).mean()
    logits = critic(feats[:-1].detach())
    slow = policy.slow_critic.value(feats[:-1].detach())
    critic_loss = critic.bins.loss(logits, returns.detach()) + settings.slow_critic_reg * critic.bins.loss(logits, slow)
    return actor_loss, (weights * critic_loss).mean()


@pytest.mark.parametrize("env", ["Pendulum-v1", "CartPole-v1"])
def test_fast_behavior_update_equals_the_straightforward_one(env: str) -> None:
    """One critic pass for the returns and the critic's loss, the rollout's own actor outputs, and each optimizer's
    backward restricted to its network: the same losses and gradients as the plain computation (within 1e-6)."""
    model = tiny(env, learning_starts=40)
    model.learn(120)
    policy = model.policy
    data = model.replay_buffer.sample(4, 8)
    _, post = policy.world_model.loss(
        data.observations, policy.model_action(data.prev_actions), data.rewards, data.terminated, data.is_first
    )
    start, start_continue = Latent(post.deter.reshape(32, -1).detach(), post.stoch.reshape(32, -1).detach()), th.ones(32)
    settings = behavior_module.BehaviorSettings(5, 0.99, 0.95, 3e-4, model.actor_gradient)
    assert settings.actor_gradient == ("dynamics" if env == "Pendulum-v1" else "reinforce")
    th.manual_seed(0)
    actor_ref, critic_ref = straightforward_behavior_losses(policy, start, start_continue, settings)
    th.manual_seed(0)
    fast = behavior_module.behavior_losses(policy, start, start_continue, settings)
    assert fast.actor.item() == pytest.approx(actor_ref.item(), abs=1e-6)
    assert fast.critic.item() == pytest.approx(critic_ref.item(), abs=1e-6)
    for network, ref_loss, fast_loss in ((policy.actor, actor_ref, fast.actor), (policy.critic, critic_ref, fast.critic)):
        params = list(network.parameters())
        expected = th.autograd.grad(ref_loss, params, retain_graph=True)
        got = th.autograd.grad(fast_loss, params, retain_graph=True)
        for g_expected, g_got in zip(expected, got, strict=True):
            assert th.allclose(g_got, g_expected, atol=1e-6, rtol=1e-5)
        assert any(g.abs().sum() > 0 for g in got)


# --- defect 4: lambda-returns bootstrapped with the critic and discounted by the continue head -------------------


def test_returns_bootstrap_with_critic_and_continue(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny(short_pendulum())
    model.learn(60)
    policy = model.policy
    monkeypatch.setattr(policy.world_model, "reward", lambda f: th.full(f.shape[:-1], 1.0))
    monkeypatch.setattr(policy.world_model, "continue_prob", lambda f: th.full(f.shape[:-1], 0.5))
    monkeypatch.setattr(policy.critic.bins, "decode", lambda logits: th.full(logits.shape[:-1], 10.0))
    start = policy.world_model.rssm.initial(3, th.device("cpu"))
    settings = behavior_module.BehaviorSettings(1, 0.9, 0.95, 0.0, "reinforce")
    out = behavior_module.behavior_losses(policy, start, th.ones(3), settings)
    # horizon 1: R_0 = r_1 + gamma * c_1 * v(s_1) = 1 + 0.9 * 0.5 * 10
    assert out.returns.item() == pytest.approx(1 + 0.9 * 0.5 * 10)


def _spy_replay_returns(monkeypatch: pytest.MonkeyPatch) -> dict:
    """What ``behavior_losses`` passes to ``replay_lambda_returns`` (rewards, bootstrap, carry), filled at each call."""
    captured: dict = {}
    real = behavior_module.replay_lambda_returns

    def spy(rewards, terminated, last, bootstrap, gamma, lam, carry=None):
        captured.update(rewards=rewards, bootstrap=bootstrap, carry=carry)
        return real(rewards, terminated, last, bootstrap, gamma, lam, carry)

    monkeypatch.setattr(behavior_module, "replay_lambda_returns", spy)
    return captured


def test_replay_value_loss_on_real_rewards_is_weighted_into_the_critic_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    kwargs = {**TINY["policy_kwargs"], "twohot_space": "raw"}
    model = tiny(short_pendulum(steps=6), replay_value_scale=0.3, policy_kwargs=kwargs)
    model.learn(80)
    policy = model.policy
    assert model.logger.name_to_value["train/replay_value_loss"] > 0
    data = model.replay_buffer.sample(4, 8)
    _, posterior = policy.world_model.loss(
        data.observations, policy.model_action(data.prev_actions), data.rewards, data.terminated, data.is_first
    )
    replay = behavior_module.ReplayTargets.from_batch(posterior.features, data)
    # Pendulum's time limit truncates: every chunk of 8 rows crosses an episode end (6 steps = 7 rows per episode)
    ends = th.maximum(data.truncated, data.terminated)
    ends[:, :-1] = th.maximum(ends[:, :-1], data.is_first[:, 1:])
    assert th.equal(replay.last, ends) and (replay.last.sum(1) >= 1).all()
    assert not replay.features.requires_grad  # the replay loss trains the critic only
    captured = _spy_replay_returns(monkeypatch)
    settings = behavior_module.BehaviorSettings(5, 0.99, 0.95, 0.0, "dynamics", replay_value_scale=0.3)
    start, start_continue = posterior.flatten(), (1.0 - data.terminated).reshape(-1)
    th.manual_seed(0)
    with_replay = behavior_module.behavior_losses(policy, start, start_continue, settings, replay)
    th.manual_seed(0)
    without = behavior_module.behavior_losses(policy, start, start_continue, settings._replace(replay_value_scale=0.0), replay)
    assert th.equal(captured["rewards"], data.rewards)  # the real rewards, not the reward head's
    assert captured["bootstrap"].shape == data.rewards.shape and captured["carry"] is None  # every row imagined
    assert without.replay_value.item() == 0.0 and with_replay.replay_value.item() > 0.0
    assert with_replay.critic.item() == pytest.approx(without.critic.item() + 0.3 * with_replay.replay_value.item(), rel=1e-5)


def test_replay_value_loss_bootstrapped_with_the_slow_critic(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """``replay_value_bootstrap="critic"``: the replayed states' values in the replay returns are the slow critic's
    (not imagined returns), so imagination may start from a few rows; the option is saved and loaded."""
    kwargs = {**TINY["policy_kwargs"], "twohot_space": "raw"}
    model = tiny(short_pendulum(steps=6), replay_value_scale=0.3, replay_value_bootstrap="critic", policy_kwargs=kwargs)
    model.learn(80)
    assert model.logger.name_to_value["train/replay_value_loss"] > 0
    policy = model.policy
    with th.no_grad():  # a slow critic distinct from the critic, so that the test tells them apart
        for p in policy.slow_critic.parameters():
            p.add_(0.1)
    data = model.replay_buffer.sample(4, 8)
    _, posterior = policy.world_model.loss(
        data.observations, policy.model_action(data.prev_actions), data.rewards, data.terminated, data.is_first
    )
    replay = behavior_module.ReplayTargets.from_batch(posterior.features, data)
    captured = _spy_replay_returns(monkeypatch)
    settings = behavior_module.BehaviorSettings(
        5, 0.99, 0.95, 0.0, "dynamics", replay_value_scale=0.3, replay_value_bootstrap="critic"
    )
    last_rows = Latent(posterior.deter[:, -2:], posterior.stoch[:, -2:]).flatten()  # 2 of 8 rows: enough now
    out = behavior_module.behavior_losses(policy, last_rows, th.ones(8), settings, replay)
    with th.no_grad():
        expected = policy.slow_critic.value(replay.features)
        fast = policy.critic.value(replay.features)
    assert th.equal(captured["bootstrap"], expected) and not th.allclose(expected, fast)
    assert out.replay_value.item() > 0
    model.save(tmp_path / "m")
    assert Dreamer.load(tmp_path / "m").replay_value_bootstrap == "critic"


@pytest.mark.parametrize("subset", ["last", "random"])
def test_replay_value_loss_from_some_start_rows_carries_real_rewards_to_them(
    subset: str, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """``replay_value_bootstrap="imagined"`` with ``imagine_starts`` below the sequence length: the rows imagination
    started from are bootstrapped with their imagined returns, the others carry the real rewards on to them (the slow
    critic's value only where nothing else is left); the setting trains, and is saved and loaded."""
    kwargs = {**TINY["policy_kwargs"], "twohot_space": "raw"}
    model = tiny(
        short_pendulum(steps=6), replay_value_scale=0.3, imagine_starts=3, imagine_subset=subset, policy_kwargs=kwargs
    )
    model.learn(80)
    assert model.logger.name_to_value["train/replay_value_loss"] > 0
    policy = model.policy
    with th.no_grad():  # a slow critic distinct from the critic and from any imagined return
        for p in policy.slow_critic.parameters():
            p.add_(0.1)
    data = model.replay_buffer.sample(4, 8)
    _, posterior = policy.world_model.loss(
        data.observations, policy.model_action(data.prev_actions), data.rewards, data.terminated, data.is_first
    )
    model.sequence_length = 8
    start, start_continue, rows = model._imagination_starts(posterior, 1.0 - data.terminated)
    assert rows is not None and rows.shape == (4, 3)
    gathered = posterior.deter.gather(1, rows[..., None].expand(4, 3, posterior.deter.shape[-1])).reshape(12, -1)
    assert th.equal(start.deter, gathered)  # the rows are those the start states came from, in their order
    replay = behavior_module.ReplayTargets.from_batch(posterior.features, data, rows)
    captured = _spy_replay_returns(monkeypatch)
    imagine = behavior_module.imagine
    imagined = {}

    def imagine_spy(*args, **kw):
        imagined["traj"] = imagine(*args, **kw)
        return imagined["traj"]

    monkeypatch.setattr(behavior_module, "imagine", imagine_spy)
    settings = behavior_module.BehaviorSettings(5, 0.99, 0.95, 0.0, "dynamics", replay_value_scale=0.3)
    out = behavior_module.behavior_losses(policy, start, start_continue, settings, replay)
    assert out.replay_value.item() > 0
    bootstrap, carry = captured["bootstrap"], captured["carry"]
    expected_carry = th.ones(4, 8).scatter(1, rows, 0.0)
    assert th.equal(carry, expected_carry)
    with th.no_grad():
        slow = policy.slow_critic.value(replay.features)
    assert th.equal(bootstrap[carry.bool()], slow[carry.bool()])  # elsewhere: the slow critic
    started = bootstrap.gather(1, rows)
    assert not th.allclose(started, slow.gather(1, rows))  # at the start rows: the imagined returns
    assert imagined["traj"].features.shape[1] == 12
    model.save(tmp_path / "m")
    loaded = Dreamer.load(tmp_path / "m")
    assert (loaded.imagine_starts, loaded.replay_value_bootstrap) == (3, "imagined")


# --- defect 5 and terminated vs truncated -------------------------------------------------------------------------


def test_truncation_resets_env_and_is_not_termination() -> None:
    model = tiny(short_pendulum(steps=20), learning_starts=0)
    model.learn(100)
    buffer = model.replay_buffer
    assert model._episode_num == 5 and len(model.ep_info_buffer) == 5
    stored = slice(0, int(buffer.n_stored[0]))
    assert buffer.terminated[stored].sum() == 0  # a time limit is not a death: continue target stays 1
    assert buffer.truncated[stored].sum() == 5 and buffer.is_first[stored].sum() == 5


def continue_targets(model: Dreamer, monkeypatch: pytest.MonkeyPatch) -> tuple[th.Tensor, th.Tensor]:
    """The continue head's training targets on a replayed batch, and the batch's terminated flags."""
    captured = {}
    real = world_model_module.F.binary_cross_entropy_with_logits

    def spy(logits, target, **kwargs):
        captured["target"] = target
        return real(logits, target, **kwargs)

    monkeypatch.setattr(world_model_module.F, "binary_cross_entropy_with_logits", spy)
    data = model.replay_buffer.sample(16, 8)
    model.policy.world_model.loss(
        data.observations, model.policy.model_action(data.prev_actions), data.rewards, data.terminated, data.is_first
    )
    return captured["target"], data


def test_continue_target_is_one_minus_terminated(monkeypatch: pytest.MonkeyPatch) -> None:
    truncating = tiny(short_pendulum(steps=5), learning_starts=0)
    truncating.learn(60)
    target, data = continue_targets(truncating, monkeypatch)
    assert data.truncated.sum() > 0 and th.all(target == 1.0)  # truncation keeps the continue target at 1
    terminating = tiny(make_vec_env(MemoryCueDiscrete, n_envs=1, seed=0, env_kwargs={"delay": 2}), learning_starts=0)
    terminating.learn(60)
    target, data = continue_targets(terminating, monkeypatch)
    assert data.terminated.sum() > 0 and th.equal(target, 1.0 - data.terminated)


# --- defect 6: the RSSM pairs o_t with a_{t-1} -------------------------------------------------------------------


def test_rssm_pairs_observation_with_previous_action() -> None:
    th.manual_seed(0)
    rssm = RSSM(action_dim=2, embed_dim=3, deter=8, stoch=2, classes=3, hidden=8)
    embed = th.randn(1, 4, 3)
    actions = th.randn(1, 4, 2)
    is_first = th.tensor([[1.0, 0, 0, 0]])
    changed = actions.clone()
    changed[0, 2] += 1.0  # a_1 in row 2: it led to o_2
    th.manual_seed(1)
    post, _, _ = rssm.observe(embed, actions, is_first)
    th.manual_seed(1)
    post_changed, _, _ = rssm.observe(embed, changed, is_first)
    th.testing.assert_close(post.deter[:, :2], post_changed.deter[:, :2])  # earlier steps unaffected
    assert not th.allclose(post.deter[:, 2], post_changed.deter[:, 2])  # h_2 = f(h_1, z_1, a_1)
    # and acting feeds the action taken at step t into step t + 1
    policy = DreamerPolicy(spaces.Box(-1, 1, (3,)), spaces.Box(-2, 2, (2,)), lambda _: 1e-3, hidden=8, layers=1, deter=8)
    state = policy.initial_state(1)
    action, state = policy.step(th.zeros(1, 3), state, th.ones(1))
    th.testing.assert_close(state.prev_action, action)


# --- defect 8: stable distributions, free bits, KL balancing, enough updates ------------------------------------


@pytest.mark.parametrize("latent", ["categorical", "gaussian"])
def test_kl_balancing_and_free_bits(latent: str) -> None:
    th.manual_seed(0)
    rssm = RSSM(1, 2, deter=4, stoch=3, classes=4, hidden=4, latent=latent)
    stats_dim = 12 if latent == "categorical" else 6
    post = th.randn(5, stats_dim, requires_grad=True)
    prior = th.randn(5, stats_dim, requires_grad=True)
    dyn, rep, kl = rssm.kl_loss(post, prior, free_bits=0.0)
    g_post, g_prior = th.autograd.grad(dyn.sum(), [post, prior], allow_unused=True)
    assert (g_post is None or g_post.abs().sum() == 0) and g_prior.abs().sum() > 0  # dynamics term trains the prior
    g_post, g_prior = th.autograd.grad(rep.sum(), [post, prior], allow_unused=True)
    assert g_post.abs().sum() > 0 and (g_prior is None or g_prior.abs().sum() == 0)  # representation term the posterior
    th.testing.assert_close(dyn, kl)
    assert th.all(kl > 0)
    # free bits: a KL below the threshold is clipped to it and gives no gradient
    dyn, rep, kl = rssm.kl_loss(post, prior, free_bits=1e3)
    assert th.all(dyn == 1e3) and th.all(rep == 1e3)
    g_post, g_prior = th.autograd.grad((dyn + rep).sum(), [post, prior])
    assert g_post.abs().sum() == 0 and g_prior.abs().sum() == 0


def test_std_floors() -> None:
    rssm = RSSM(1, 2, deter=4, stoch=3, hidden=4, latent="gaussian", min_std=0.1)
    stats = th.full((5, 6), -1e4)  # softplus underflows to 0: the floor keeps the std at min_std
    _, std = rssm._mean_std(stats)
    assert th.all(std >= 0.1) and th.isfinite(rssm.kl(stats, stats + 1)).all()
    actor = behavior_module.Actor(4, 2, discrete=False, hidden=4, layers=1, min_std=0.1, max_std=1.0)
    dist = actor(th.full((3, 4), 1e4))
    assert th.all(dist.std >= 0.1) and th.all(dist.std <= 1.0)


def test_train_ratio_sets_updates_per_env_step() -> None:
    model = tiny(short_pendulum(), learning_starts=100, train_ratio=16, batch_size=4, sequence_length=8)
    model.learn(420)
    # 320 steps after learning_starts, each worth 16 replayed steps, one update replays 32: 160 updates
    assert model._n_updates == 160


# --- finite losses and parameters ------------------------------------------------------------------------------


def test_finite_over_hundreds_of_updates_with_extreme_actions(tmp_path) -> None:
    model = tiny(ExtremeActionEnv(), learning_starts=20, train_ratio=96)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(200, log_interval=1)  # 540 updates
    model.logger.close()
    assert model._n_updates == 540
    assert all(th.isfinite(p).all() for p in model.policy.parameters())
    actions, _ = model.predict(np.zeros((5, 2), dtype=np.float32), deterministic=True)
    assert np.all(np.abs(actions) > 0.9) and np.isfinite(actions).all()
    rows = (tmp_path / "progress.csv").read_text().splitlines()
    header = rows[0].split(",")
    columns = [i for i, key in enumerate(header) if key.startswith("train/")]
    values = [float(row.split(",")[i]) for row in rows[1:] for i in columns if row.split(",")[i]]
    assert len(values) > 100 and np.all(np.isfinite(values))


# --- compute precision ----------------------------------------------------------------------------------------------


def test_bf16_keeps_float32_parameters_and_stays_close_to_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    """precision="bf16": imagination's matrix products run in bf16, parameters, gradients and optimizer state stay
    float32, training stays finite, and on a fixed batch the behaviour losses are within 5% of float32's."""
    monkeypatch.setattr("rrl_sb3.common.precision.cpu_bf16_units", lambda: ["amx_bf16"])
    model = tiny(short_pendulum(), precision="bf16")
    assert model._compute_dtype == th.bfloat16
    dtypes = set()
    hook = model.policy.critic.net[0].register_forward_hook(lambda module, args, out: dtypes.add(out.dtype))
    model.learn(120)
    hook.remove()
    assert th.bfloat16 in dtypes and model._n_updates > 0
    for module in (model.policy.world_model, model.policy.actor, model.policy.critic):
        assert all(p.dtype == th.float32 and th.isfinite(p).all() for p in module.parameters())
        for state in module.optimizer.state.values():
            assert all(v.dtype == th.float32 for v in state.values() if v.ndim > 0)

    policy = model.policy
    data = model.replay_buffer.sample(model.batch_size, model.sequence_length)
    with th.no_grad():
        _, posterior = policy.world_model.loss(
            data.observations, policy.model_action(data.prev_actions), data.rewards, data.terminated, data.is_first
        )
    settings = behavior_module.BehaviorSettings(model.horizon, model.gamma, model.lambda_, model.entropy_coef, "dynamics")
    normalizer = copy.deepcopy(policy.return_normalizer.state_dict())
    results = {}
    for dtype in (th.float32, th.bfloat16):
        policy.return_normalizer.load_state_dict(normalizer)
        th.manual_seed(0)
        with th.autocast("cpu", dtype=th.bfloat16, enabled=dtype == th.bfloat16):
            losses = behavior_module.behavior_losses(policy, posterior.flatten(), 1.0 - data.terminated.reshape(-1), settings)
        assert losses.actor.dtype == losses.critic.dtype == th.float32
        results[dtype] = losses
    for name in ("critic", "returns", "value"):
        fp32, bf16 = getattr(results[th.float32], name), getattr(results[th.bfloat16], name)
        assert th.isfinite(bf16) and abs(bf16 - fp32) <= 0.05 * abs(fp32) + 1e-3, (name, fp32, bf16)


def test_precision_auto_picks_bf16_only_where_native(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for units, expected in ((["amx_bf16"], th.bfloat16), ([], th.float32)):
        monkeypatch.setattr("rrl_sb3.common.precision.cpu_bf16_units", lambda units=units: units)
        model = tiny("Pendulum-v1", precision="auto")
        assert model._compute_dtype == expected
        model.save(tmp_path / "model")
        assert Dreamer.load(tmp_path / "model").precision == "auto"  # resolved again where it is loaded
    assert tiny("Pendulum-v1")._compute_dtype == th.float32  # the default stays the reference
    with pytest.warns(UserWarning, match="emulated"):
        tiny("Pendulum-v1", precision="bf16")
    with pytest.raises(ValueError, match="precision='fp16'"):
        tiny("Pendulum-v1", precision="fp16")
