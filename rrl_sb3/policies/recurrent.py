"""GRU actor-critic policies that sb3-contrib's :class:`~sb3_contrib.RecurrentPPO` accepts unchanged.

.. code-block:: python

    from sb3_contrib import RecurrentPPO
    from rrl_sb3.policies import MlpGruPolicy

    model = RecurrentPPO(MlpGruPolicy, "CartPole-v1", policy_kwargs=dict(gru_hidden_size=64))
    model.learn(10_000)

RecurrentPPO resolves policy *names* through its class attribute ``policy_aliases``, which only lists the
``*LstmPolicy`` names, and this package does not patch sb3-contrib. Pass the class, as above, or turn a name from a
config file into a class with :func:`resolve_recurrent_policy` (``RecurrentPPO(resolve_recurrent_policy("MlpGruPolicy"),
env)``). A saved model records the policy class itself, so ``RecurrentPPO.load(path)`` needs nothing extra.

How sb3-contrib's LSTM assumptions are bridged
----------------------------------------------

RecurrentPPO, its rollout buffers and its policy base class are written for ``nn.LSTM``. The GRU policies keep all of
sb3-contrib's code paths (``collect_rollouts``, ``train``, ``RecurrentRolloutBuffer``, ``predict``, ``save``/``load``)
and meet them at four points:

1. **Type check.** ``RecurrentPPO._setup_model`` rejects a policy that is not a ``RecurrentActorCriticPolicy``.
   :class:`GruActorCriticPolicy` therefore subclasses it, but does not run its ``__init__`` (which would build LSTMs):
   it calls ``ActorCriticPolicy.__init__`` directly and builds ``nn.GRU`` modules itself. Every method of the LSTM base
   class that touches a recurrent layer (``_build_mlp_extractor``, ``_process_sequence``, ``forward``,
   ``get_distribution``, ``predict_values``, ``evaluate_actions``, ``_predict``, ``predict``) is overridden, so no LSTM
   code runs and no LSTM weights exist.
2. **Sizes.** RecurrentPPO sizes its initial states and the buffer's state arrays from
   ``policy.lstm_actor.num_layers`` and ``policy.lstm_actor.hidden_size``. ``lstm_actor`` (with ``lstm_critic`` and
   ``lstm_hidden_state_shape``) is a read-only alias of the actor GRU, which has the same two attributes. The aliases
   are properties, not registered sub-modules, so the state dict only holds ``gru_actor.*`` / ``gru_critic.*`` keys.
3. **State layout.** RecurrentPPO and its buffer handle the state as an LSTM pair ``(hidden, cell)`` for the actor and
   for the critic (``RNNStates(pi=(h, c), vf=(h, c))``): the buffer stores both halves, and the timeout bootstrap in
   ``collect_rollouts`` indexes the second one. The GRU policies keep that pair: the first element is the GRU hidden
   state, the second is an all-zero placeholder of the same shape that is ignored on input and returned as zeros. It
   costs one unused array per step in the rollout buffer and nothing else. The methods keep sb3-contrib's parameter
   name ``lstm_states`` so callers that pass it by keyword work unchanged.
4. **Episode starts.** The hidden state of an environment is multiplied by ``1 - episode_start`` before the step that
   starts a new episode, inside training sequences as well as while acting, by the package's one recurrent core,
   :func:`rrl_sb3.common.recurrent.rnn_unroll`. Instead of stepping the GRU one time step at a time whenever a reset
   occurs somewhere in the batch, the sequence is cut only at the time steps where some environment starts an episode
   and each piece goes through ``nn.GRU`` in one call. The minibatch sequences of ``RecurrentRolloutBuffer`` begin at
   episode starts, so a training minibatch is a single GRU call.

Finite values
-------------

sb3-contrib owns RecurrentPPO's collection and update, so the GRU policies guard what they see: a non-finite
observation given to ``forward`` (every collection step) or to ``predict`` raises
:class:`~rrl_sb3.common.guards.NonFiniteError` before anything is acted upon. Not covered (sb3-contrib's code, which the
policy never sees): a non-finite *reward* reaching the rollout buffer, and a non-finite loss or gradient in
``RecurrentPPO.train``. Wrap the envs in :class:`~rrl_sb3.common.VecCheckFinite` for the rewards (``rrl-bench`` does);
Dreamer, RecurrentSAC and REINFORCE check rewards, losses and gradients themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib import RecurrentPPO
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from sb3_contrib.common.recurrent.type_aliases import RNNStates
from stable_baselines3.common.distributions import Distribution
from stable_baselines3.common.policies import ActorCriticPolicy, BaseModel
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    MlpExtractor,
    NatureCNN,
)
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn

from rrl_sb3.common.guards import check_finite_observation
from rrl_sb3.common.recurrent import rnn_unroll
from rrl_sb3.common.utils import BOOLEAN, check_hyperparameters

#: ``(hidden, placeholder)``: the GRU hidden state and an all-zero tensor of the same shape standing in for an LSTM cell.
GruStatePair = tuple[th.Tensor, th.Tensor]

# Options of nn.GRU that make sense for a policy; the rest is either set by the policy or breaks causality/layout.
_ALLOWED_GRU_KWARGS = ("bias", "dropout")
_GRU_KWARGS_SET_BY_POLICY = {
    "input_size": "the features extractor's output size",
    "hidden_size": "gru_hidden_size",
    "num_layers": "n_gru_layers",
}
_LSTM_OPTION_NAMES = {
    "lstm_hidden_size": "gru_hidden_size",
    "n_lstm_layers": "n_gru_layers",
    "shared_lstm": "shared_gru",
    "enable_critic_lstm": "enable_critic_gru",
    "lstm_kwargs": "gru_kwargs",
}


def gru_unroll(
    gru: nn.GRU,
    inputs: th.Tensor,
    hidden: th.Tensor,
    episode_starts: th.Tensor,
) -> tuple[th.Tensor, th.Tensor]:
    """:func:`rrl_sb3.common.recurrent.rnn_unroll` for a GRU, with its hidden state as a tensor instead of ``(h,)``.

    :param gru: a sequence-first GRU (``batch_first=False``)
    :param inputs: inputs of shape ``(seq_len, batch, input_size)``
    :param hidden: the state before the first step, ``(num_layers, batch, hidden_size)``
    :param episode_starts: ``(seq_len, batch)``; ``1`` (or ``True``) where a step is the first of an episode
    :return: the last layer's outputs ``(seq_len, batch, hidden_size)`` and the state after the last step
    """
    output, (hidden,) = rnn_unroll(gru, inputs, (hidden,), episode_starts)
    return output, hidden


def _check_gru_options(
    gru_hidden_size: int,
    n_gru_layers: int,
    shared_gru: bool,
    enable_critic_gru: bool,
    share_features_extractor: bool,
    gru_kwargs: dict[str, Any] | None,
    unexpected_kwargs: dict[str, Any],
) -> dict[str, Any]:
    """Reject configurations the GRU policy cannot honour, with a message saying what to use instead.

    :return: a copy of ``gru_kwargs`` (``{}`` for ``None``)
    """
    if unexpected_kwargs:
        hints = [
            f"{name!r} is an LSTM option; the GRU policies spell it {_LSTM_OPTION_NAMES[name]!r}"
            for name in unexpected_kwargs
            if name in _LSTM_OPTION_NAMES
        ]
        others = [repr(name) for name in unexpected_kwargs if name not in _LSTM_OPTION_NAMES]
        if others:
            hints.append(f"unexpected keyword argument(s) {', '.join(others)}")
        raise TypeError("GRU policy: " + "; ".join(hints))
    for name, value in (("gru_hidden_size", gru_hidden_size), ("n_gru_layers", n_gru_layers)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    flags = dict(shared_gru=shared_gru, enable_critic_gru=enable_critic_gru, share_features_extractor=share_features_extractor)
    check_hyperparameters(flags, dict.fromkeys(flags, BOOLEAN))  # a string such as "no" is not False
    if shared_gru and enable_critic_gru:
        raise ValueError(
            "shared_gru=True and enable_critic_gru=True exclude each other: the critic either reads the actor's GRU "
            "(shared_gru=True, enable_critic_gru=False), has its own GRU (enable_critic_gru=True, the default) "
            "or has no recurrence (both False)."
        )
    if shared_gru and not share_features_extractor:
        raise ValueError(
            "shared_gru=True needs share_features_extractor=True: a GRU shared by actor and critic reads one set of features."
        )
    gru_kwargs = dict(gru_kwargs or {})
    for name in gru_kwargs:
        if name in _GRU_KWARGS_SET_BY_POLICY:
            raise ValueError(f"gru_kwargs must not set {name!r}: the policy sets it from {_GRU_KWARGS_SET_BY_POLICY[name]}")
        if name not in _ALLOWED_GRU_KWARGS:
            raise ValueError(
                f"gru_kwargs[{name!r}] is not supported; allowed keys: {', '.join(_ALLOWED_GRU_KWARGS)} "
                "(the policy needs a unidirectional, sequence-first GRU on the policy's device and dtype)"
            )
    return gru_kwargs


class GruActorCriticPolicy(RecurrentActorCriticPolicy):
    """Recurrent actor-critic policy with GRU layers, for sb3-contrib's ``RecurrentPPO`` (alias ``MlpGruPolicy``).

    Features (from the features extractor) go through a GRU, then through SB3's MLP heads (``net_arch``) into the
    action distribution and the value. The critic either has its own GRU (``enable_critic_gru=True``, the default),
    reads the actor's GRU output without sending gradients into it (``shared_gru=True``), or has a plain linear layer
    in place of a GRU (both ``False``).

    **Recurrent state.** Wherever sb3-contrib passes an LSTM state, this policy takes and returns a pair
    ``(hidden, placeholder)`` of arrays (tensors inside ``forward``) of shape ``(n_gru_layers, n_envs, gru_hidden_size)``,
    environment axis second:

    - ``hidden`` is the GRU hidden state;
    - ``placeholder`` is all zeros. It stands where an LSTM keeps its cell state, because RecurrentPPO and its rollout
      buffer store and index that second element. It is ignored on input and always returned as zeros.

    ``predict`` returns that pair as numpy arrays (zeros for ``state=None``) and resets the hidden state of every
    environment whose ``episode_start`` is true, so ``evaluate_policy`` and ``EvalCallback`` thread it unchanged. The
    state is the same pair for actor and critic inside RecurrentPPO (``RNNStates(pi=..., vf=...)``).

    **Bridge to sb3-contrib.** The class subclasses ``RecurrentActorCriticPolicy`` only because ``RecurrentPPO``
    requires it: it skips that class's ``__init__`` (which builds LSTMs), overrides every method that touches the
    recurrent layers, and exposes the actor GRU under the name RecurrentPPO reads (``lstm_actor``). See the module
    docstring of :mod:`rrl_sb3.policies.recurrent` for the full list.

    :param observation_space: Observation space
    :param action_space: Action space
    :param lr_schedule: Learning rate schedule (could be constant)
    :param net_arch: The MLP heads after the GRU, e.g. ``dict(pi=[64], vf=[64])`` (SB3's default when ``None``)
    :param activation_fn: Activation function of the MLP heads
    :param ortho_init: Whether to use orthogonal initialization (features extractor, MLP heads, output layers;
        the GRU keeps PyTorch's initialization, as sb3-contrib's LSTM does)
    :param use_sde: Whether to use State Dependent Exploration or not
    :param log_std_init: Initial value for the log standard deviation
    :param full_std: Whether to use (n_features x n_actions) parameters for the std instead of only (n_features,)
        when using gSDE
    :param use_expln: Use ``expln()`` function instead of ``exp()`` to ensure a positive standard deviation (gSDE)
    :param squash_output: Whether to squash the output using a tanh function (only with gSDE)
    :param features_extractor_class: Features extractor to use
    :param features_extractor_kwargs: Keyword arguments to pass to the features extractor
    :param share_features_extractor: If True, the features extractor is shared between the policy and value networks
    :param normalize_images: Whether to normalize images or not, dividing by 255.0 (True by default)
    :param optimizer_class: The optimizer to use, ``th.optim.Adam`` by default
    :param optimizer_kwargs: Additional keyword arguments, excluding the learning rate, to pass to the optimizer
    :param gru_hidden_size: Number of hidden units of each GRU layer
    :param n_gru_layers: Number of stacked GRU layers
    :param shared_gru: Whether the critic reads the actor's GRU output (only the actor's loss trains the GRU then);
        needs ``enable_critic_gru=False`` and ``share_features_extractor=True``
    :param enable_critic_gru: Whether the critic has a GRU of its own
    :param gru_kwargs: Additional keyword arguments for ``nn.GRU``: ``bias`` and ``dropout`` (between layers)
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.Tanh,
        ortho_init: bool = True,
        use_sde: bool = False,
        log_std_init: float = 0.0,
        full_std: bool = True,
        use_expln: bool = False,
        squash_output: bool = False,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        share_features_extractor: bool = True,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        gru_hidden_size: int = 256,
        n_gru_layers: int = 1,
        shared_gru: bool = False,
        enable_critic_gru: bool = True,
        gru_kwargs: dict[str, Any] | None = None,
        **unexpected_kwargs: Any,
    ) -> None:
        # Fail before building anything, and translate LSTM option names a user may carry over from MlpLstmPolicy.
        gru_kwargs = _check_gru_options(
            gru_hidden_size,
            n_gru_layers,
            shared_gru,
            enable_critic_gru,
            share_features_extractor,
            gru_kwargs,
            unexpected_kwargs,
        )
        # Read by _build_mlp_extractor, which ActorCriticPolicy.__init__ calls: the MLP heads sit on the GRU output.
        self.gru_hidden_size = int(gru_hidden_size)
        # Skip RecurrentActorCriticPolicy.__init__ (it builds nn.LSTM modules); the GRUs are built below instead.
        ActorCriticPolicy.__init__(
            self,
            observation_space,
            action_space,
            lr_schedule,
            net_arch=net_arch,
            activation_fn=activation_fn,
            ortho_init=ortho_init,
            use_sde=use_sde,
            log_std_init=log_std_init,
            full_std=full_std,
            use_expln=use_expln,
            squash_output=squash_output,
            features_extractor_class=features_extractor_class,
            features_extractor_kwargs=features_extractor_kwargs,
            share_features_extractor=share_features_extractor,
            normalize_images=normalize_images,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
        )
        self.n_gru_layers = int(n_gru_layers)
        self.shared_gru = shared_gru
        self.enable_critic_gru = enable_critic_gru
        self.gru_kwargs = gru_kwargs
        # Shape of one environment's state, as sb3-contrib's lstm_hidden_state_shape: (layers, 1, hidden).
        self.gru_hidden_state_shape = (self.n_gru_layers, 1, self.gru_hidden_size)

        self.gru_actor = self._make_gru()
        self.gru_critic = self._make_gru() if enable_critic_gru else None
        # Without a critic GRU of its own, a linear layer maps the critic's features to the width the value head expects.
        self.critic_projection = None
        if not (shared_gru or enable_critic_gru):
            self.critic_projection = nn.Linear(int(self.features_dim), self.gru_hidden_size)

        # ActorCriticPolicy built its optimizer before the GRUs existed: rebuild it over all parameters (call-arg:
        # Optimizer's own signature has no lr; SB3 ignores it the same way).
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)  # type: ignore[call-arg]

    def _make_gru(self) -> nn.GRU:
        # int(): SB3's flattened size of a MultiDiscrete space is a NumPy integer, which nn.GRU refuses
        return nn.GRU(int(self.features_dim), self.gru_hidden_size, num_layers=self.n_gru_layers, **self.gru_kwargs)

    # --- names RecurrentPPO (and code written for the LSTM policies) reads --------------------------------------
    # sb3-contrib declares them as attributes holding LSTMs: these read-only GRU views override them (type: ignore).

    @property
    def lstm_actor(self) -> nn.GRU:  # type: ignore[override]
        """The actor GRU under the LSTM name RecurrentPPO reads its ``num_layers`` and ``hidden_size`` from."""
        return self.gru_actor

    @property
    def lstm_critic(self) -> nn.GRU | None:  # type: ignore[override]
        """The critic GRU (``None`` unless ``enable_critic_gru``) under sb3-contrib's LSTM name."""
        return self.gru_critic

    @property
    def lstm_hidden_state_shape(self) -> tuple[int, int, int]:  # type: ignore[override]
        """One environment's state shape ``(n_gru_layers, 1, gru_hidden_size)`` under sb3-contrib's LSTM name."""
        return self.gru_hidden_state_shape

    # --- network ------------------------------------------------------------------------------------------------

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            share_features_extractor=self.share_features_extractor,
            gru_hidden_size=self.gru_hidden_size,
            n_gru_layers=self.n_gru_layers,
            shared_gru=self.shared_gru,
            enable_critic_gru=self.enable_critic_gru,
            gru_kwargs=dict(self.gru_kwargs),
        )
        return data

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = MlpExtractor(
            self.gru_hidden_size,
            net_arch=self.net_arch,
            activation_fn=self.activation_fn,
            device=self.device,
        )

    @staticmethod
    def _gru_sequence(
        features: th.Tensor,
        state: GruStatePair | tuple[th.Tensor, ...],
        episode_starts: th.Tensor,
        gru: nn.GRU,
    ) -> tuple[th.Tensor, GruStatePair]:
        """Run ``gru`` over a flat batch laid out as sb3-contrib lays it out, sequence after sequence.

        :param features: ``(n_seq * seq_len, features_dim)``; ``seq_len`` is 1 while collecting rollouts and the
            padded sequence length during training
        :param state: ``(hidden, placeholder)``, each ``(n_layers, n_seq, hidden_size)``; only ``hidden`` is read
        :param episode_starts: ``(n_seq * seq_len,)``
        :param gru: the GRU to run
        :return: the GRU output ``(n_seq * seq_len, hidden_size)`` and the new ``(hidden, zeros)`` pair
        """
        hidden = state[0]
        n_seq = hidden.shape[1]
        # (n_seq * seq_len, dim) -> (seq_len, n_seq, dim), the GRU's sequence-first layout
        inputs = features.reshape(n_seq, -1, gru.input_size).transpose(0, 1)
        starts = episode_starts.reshape(n_seq, -1).transpose(0, 1)
        output, (hidden,) = rnn_unroll(gru, inputs, (hidden,), starts)
        latent = output.transpose(0, 1).reshape(-1, gru.hidden_size)
        return latent, (hidden, th.zeros_like(hidden))

    @staticmethod
    def _process_sequence(  # type: ignore[override]
        features: th.Tensor,
        lstm_states: tuple[th.Tensor, th.Tensor],
        episode_starts: th.Tensor,
        lstm: nn.Module,
    ) -> tuple[th.Tensor, tuple[th.Tensor, th.Tensor]]:
        """sb3-contrib's sequence step, answered by the GRU version (``lstm`` is the GRU to run)."""
        return GruActorCriticPolicy._gru_sequence(features, lstm_states, episode_starts, lstm)  # type: ignore[arg-type]

    def _critic_latent(
        self,
        vf_features: th.Tensor,
        vf_state: GruStatePair | tuple[th.Tensor, ...],
        episode_starts: th.Tensor,
        actor_latent: th.Tensor | None = None,
        actor_state: GruStatePair | None = None,
    ) -> tuple[th.Tensor, GruStatePair | tuple[th.Tensor, ...]]:
        """The critic's recurrent latent and state, for the three critic variants.

        When the caller already ran the actor GRU on the same features (``forward``, ``evaluate_actions``), it passes
        the result in ``actor_latent`` / ``actor_state`` so that a shared GRU is not run twice.
        """
        if self.gru_critic is not None:
            return self._gru_sequence(vf_features, vf_state, episode_starts, self.gru_critic)
        if self.shared_gru:
            if actor_latent is None or actor_state is None:
                actor_latent, actor_state = self._gru_sequence(vf_features, vf_state, episode_starts, self.gru_actor)
            # The critic reads the shared GRU but does not train it (as sb3-contrib's shared LSTM).
            return actor_latent.detach(), (actor_state[0].detach(), actor_state[1])
        assert self.critic_projection is not None
        # No critic recurrence: its state slot just mirrors the actor's, so the buffer holds a well-formed pair.
        return self.critic_projection(vf_features), actor_state if actor_state is not None else vf_state

    def _latents(
        self, obs: PyTorchObs, lstm_states: RNNStates, episode_starts: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor, RNNStates]:
        """Actor and critic latents (after the MLP heads) and the new states, from one pass over ``obs``."""
        features = self.extract_features(obs)
        pi_features, vf_features = features if isinstance(features, tuple) else (features, features)
        latent_pi, state_pi = self._gru_sequence(pi_features, lstm_states.pi, episode_starts, self.gru_actor)
        latent_vf, state_vf = self._critic_latent(vf_features, lstm_states.vf, episode_starts, latent_pi, state_pi)
        latent_pi = self.mlp_extractor.forward_actor(latent_pi)
        latent_vf = self.mlp_extractor.forward_critic(latent_vf)
        return latent_pi, latent_vf, RNNStates(state_pi, state_vf)

    def forward(  # type: ignore[override]
        self,
        obs: PyTorchObs,
        lstm_states: RNNStates,
        episode_starts: th.Tensor,
        deterministic: bool = False,
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor, RNNStates]:
        """Actor and critic pass used while collecting rollouts.

        :param obs: Observation
        :param lstm_states: ``RNNStates(pi=(hidden, placeholder), vf=(hidden, placeholder))`` before this step
        :param episode_starts: Whether each observation starts a new episode (its state is reset to zero then)
        :param deterministic: Whether to sample or use deterministic actions
        :return: action, value, log probability of the action, and the new states
        """
        check_finite_observation(obs)  # RecurrentPPO collects through forward: no non-finite observation is acted on
        latent_pi, latent_vf, states = self._latents(obs, lstm_states, episode_starts)
        values = self.value_net(latent_vf)
        distribution = self._get_action_dist_from_latent(latent_pi)
        actions = distribution.get_actions(deterministic=deterministic)
        log_prob = distribution.log_prob(actions)
        actions = actions.reshape((-1, *self.action_space.shape))  # type: ignore[misc]
        return actions, values, log_prob, states

    def evaluate_actions(  # type: ignore[override]
        self,
        obs: PyTorchObs,
        actions: th.Tensor,
        lstm_states: RNNStates,
        episode_starts: th.Tensor,
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor | None]:
        """Values, log likelihood of ``actions`` and entropy, over the padded training sequences.

        :param obs: Observation (flat batch of padded sequences)
        :param actions: The actions taken
        :param lstm_states: The states at the first step of each sequence
        :param episode_starts: Whether each step starts a new episode
        :return: estimated value, log likelihood of the actions, entropy of the action distribution
        """
        latent_pi, latent_vf, _ = self._latents(obs, lstm_states, episode_starts)
        distribution = self._get_action_dist_from_latent(latent_pi)
        if not actions.is_floating_point() and isinstance(self.action_space, spaces.MultiBinary):
            # sb3-contrib's recurrent rollout buffer keeps MultiBinary actions as int8, which Bernoulli.log_prob
            # cannot take (its LSTM policy fails there)
            actions = actions.float()
        return self.value_net(latent_vf), distribution.log_prob(actions), distribution.entropy()

    def get_distribution(  # type: ignore[override]
        self,
        obs: PyTorchObs,
        lstm_states: tuple[th.Tensor, ...],
        episode_starts: th.Tensor,
    ) -> tuple[Distribution, GruStatePair]:
        """The action distribution and the actor's new state.

        :param obs: Observation
        :param lstm_states: The actor's ``(hidden, placeholder)`` pair
        :param episode_starts: Whether each observation starts a new episode
        :return: the action distribution and the new ``(hidden, zeros)`` pair
        """
        features = BaseModel.extract_features(self, obs, self.pi_features_extractor)
        latent_pi, state = self._gru_sequence(features, lstm_states, episode_starts, self.gru_actor)
        return self._get_action_dist_from_latent(self.mlp_extractor.forward_actor(latent_pi)), state

    def predict_values(  # type: ignore[override]
        self,
        obs: PyTorchObs,
        lstm_states: tuple[th.Tensor, ...],
        episode_starts: th.Tensor,
    ) -> th.Tensor:
        """The critic's value estimates.

        :param obs: Observation
        :param lstm_states: The critic's ``(hidden, placeholder)`` pair (``RNNStates.vf``)
        :param episode_starts: Whether each observation starts a new episode
        :return: the estimated values
        """
        features = BaseModel.extract_features(self, obs, self.vf_features_extractor)
        latent_vf, _ = self._critic_latent(features, lstm_states, episode_starts)
        return self.value_net(self.mlp_extractor.forward_critic(latent_vf))

    def _predict(  # type: ignore[override]
        self,
        observation: PyTorchObs,
        lstm_states: tuple[th.Tensor, ...],
        episode_starts: th.Tensor,
        deterministic: bool = False,
    ) -> tuple[th.Tensor, GruStatePair]:
        distribution, state = self.get_distribution(observation, lstm_states, episode_starts)
        return distribution.get_actions(deterministic=deterministic), state

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Action for an observation (single or vectorized) and the next recurrent state.

        :param observation: the input observation
        :param state: ``(hidden, placeholder)`` from the previous call, each of shape
            ``(n_gru_layers, n_envs, gru_hidden_size)``; ``None`` for the zero state
        :param episode_start: per environment, whether ``observation`` is the first of an episode; the hidden state
            of those environments is reset to zero before it is used
        :param deterministic: Whether or not to return deterministic actions
        :return: the action and the next state ``(hidden, zeros)`` as numpy arrays
        """
        self.set_training_mode(False)
        check_finite_observation(observation)
        obs_tensor, vectorized_env = self.obs_to_tensor(observation)
        first = next(iter(obs_tensor.values())) if isinstance(obs_tensor, dict) else obs_tensor
        n_envs = first.shape[0]

        expected = (self.n_gru_layers, n_envs, self.gru_hidden_size)
        if state is None:
            hidden = np.zeros(expected, dtype=np.float32)
        else:
            if not isinstance(state, (tuple, list)) or len(state) != 2 or any(tuple(np.shape(s)) != expected for s in state):
                shapes = [tuple(np.shape(s)) for s in state] if isinstance(state, (tuple, list)) else np.shape(state)
                raise ValueError(
                    f"state must be the (hidden, placeholder) pair returned by predict, each of shape "
                    f"(n_gru_layers, n_envs, gru_hidden_size) = {expected}; got shapes {shapes}"
                )
            hidden = state[0]
        if episode_start is None:
            episode_start = np.zeros(n_envs, dtype=np.float32)
        if np.size(episode_start) != n_envs:
            raise ValueError(f"episode_start must have one flag per env ({n_envs}), got shape {np.shape(episode_start)}")

        with th.no_grad():
            hidden_t = th.as_tensor(np.asarray(hidden), dtype=th.float32, device=self.device)
            starts = th.as_tensor(np.asarray(episode_start, dtype=np.float32).reshape(n_envs), device=self.device)
            actions_t, (new_hidden, placeholder) = self._predict(
                obs_tensor, (hidden_t, th.zeros_like(hidden_t)), starts, deterministic=deterministic
            )

        action_shape = self.action_space.shape
        assert action_shape is not None  # every action space the policy takes has a shape
        actions = actions_t.cpu().numpy().reshape((-1, *action_shape))
        if isinstance(self.action_space, spaces.Box):
            if self.squash_output:
                actions = self.unscale_action(actions)
            else:
                # A Gaussian sample can leave the bounds; the env expects actions inside them.
                actions = np.clip(actions, self.action_space.low, self.action_space.high)
        if not vectorized_env:
            actions = actions.squeeze(axis=0)
        return actions, (new_hidden.cpu().numpy(), placeholder.cpu().numpy())


class GruActorCriticCnnPolicy(GruActorCriticPolicy):
    """:class:`GruActorCriticPolicy` with SB3's ``NatureCNN`` features extractor, for image observations
    (alias ``CnnGruPolicy``). The recurrent state is the same ``(hidden, placeholder)`` pair.

    :param observation_space: Observation space (an image ``Box``)
    :param action_space: Action space
    :param lr_schedule: Learning rate schedule (could be constant)
    :param features_extractor_class: Features extractor to use (``NatureCNN`` by default)
    :param kwargs: Any other argument of :class:`GruActorCriticPolicy`
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        features_extractor_class: type[BaseFeaturesExtractor] = NatureCNN,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            observation_space, action_space, lr_schedule, features_extractor_class=features_extractor_class, **kwargs
        )


class GruMultiInputActorCriticPolicy(GruActorCriticPolicy):
    """:class:`GruActorCriticPolicy` with SB3's ``CombinedExtractor``, for ``Dict`` observations
    (alias ``MultiInputGruPolicy``). The recurrent state is the same ``(hidden, placeholder)`` pair.

    :param observation_space: Observation space (a ``Dict``)
    :param action_space: Action space
    :param lr_schedule: Learning rate schedule (could be constant)
    :param features_extractor_class: Features extractor to use (``CombinedExtractor`` by default)
    :param kwargs: Any other argument of :class:`GruActorCriticPolicy`
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        features_extractor_class: type[BaseFeaturesExtractor] = CombinedExtractor,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            observation_space, action_space, lr_schedule, features_extractor_class=features_extractor_class, **kwargs
        )


MlpGruPolicy = GruActorCriticPolicy
CnnGruPolicy = GruActorCriticCnnPolicy
MultiInputGruPolicy = GruMultiInputActorCriticPolicy

#: Policy names of the GRU policies, in the style of ``RecurrentPPO.policy_aliases``.
GRU_POLICY_ALIASES: dict[str, type[GruActorCriticPolicy]] = {
    "MlpGruPolicy": MlpGruPolicy,
    "CnnGruPolicy": CnnGruPolicy,
    "MultiInputGruPolicy": MultiInputGruPolicy,
}


def resolve_recurrent_policy(policy: str | type[RecurrentActorCriticPolicy]) -> type[RecurrentActorCriticPolicy]:
    """The policy class ``RecurrentPPO`` should get for a name (GRU or sb3-contrib's LSTM names) or class.

    ``RecurrentPPO`` only resolves its own ``*LstmPolicy`` names; this lets a config or a command line name either
    kind without patching sb3-contrib: ``RecurrentPPO(resolve_recurrent_policy(name), env)``.

    :param policy: ``"MlpGruPolicy"``, ``"CnnGruPolicy"``, ``"MultiInputGruPolicy"``, one of RecurrentPPO's
        ``policy_aliases`` (``"MlpLstmPolicy"``, ...), or a ``RecurrentActorCriticPolicy`` subclass (returned as is)
    :return: the policy class
    """
    if isinstance(policy, type):
        if not issubclass(policy, RecurrentActorCriticPolicy):
            raise TypeError(f"{policy.__name__} is not a RecurrentActorCriticPolicy subclass, RecurrentPPO cannot use it")
        return policy
    aliases: dict[str, type[RecurrentActorCriticPolicy]] = {**RecurrentPPO.policy_aliases, **GRU_POLICY_ALIASES}  # type: ignore[dict-item]
    if policy not in aliases:
        raise ValueError(f"unknown recurrent policy {policy!r}; known names: {', '.join(sorted(aliases))}")
    return aliases[policy]
