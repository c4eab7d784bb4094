"""The one recurrent core of the package: a GRU or LSTM run over time-major sequences, reset where episodes start.

Every recurrent network here (the GRU policies for RecurrentPPO, RecurrentSAC's encoders, REINFORCE's trunk) goes
through :func:`rnn_unroll`, while acting (one step) as in training (whole sequences), so that the state an agent acts
with is exactly the state it is trained with.
"""

from __future__ import annotations

from itertools import pairwise

import torch as th
from torch import nn

#: The state of an ``nn.GRU`` or ``nn.LSTM`` as a tuple: ``(h,)`` for a GRU, ``(h, c)`` for an LSTM, each
#: ``(num_layers, batch, hidden_size)``, batch axis second as PyTorch has it.
RnnState = tuple[th.Tensor, ...]


def initial_rnn_state(rnn: nn.GRU | nn.LSTM, batch: int, device: th.device | str) -> RnnState:
    """The zero state of ``batch`` sequences before their first step (PyTorch's own initial state)."""
    zeros = th.zeros(rnn.num_layers, batch, rnn.hidden_size, device=device)
    return (zeros,) if isinstance(rnn, nn.GRU) else (zeros, zeros.clone())


def rnn_unroll(
    rnn: nn.GRU | nn.LSTM, inputs: th.Tensor, state: RnnState, is_first: th.Tensor | None = None
) -> tuple[th.Tensor, RnnState]:
    """Run a GRU or LSTM over time-major sequences, resetting a sequence's state where its episode starts.

    Before step ``t`` the state of sequence ``b`` is multiplied by ``1 - is_first[t, b]``: a sequence whose episode
    starts at ``t`` continues from the zero state, the others carry on. The result equals a step-by-step loop, but the
    layer is called once per stretch of steps without a reset, not once per step: the sequences are cut only at the
    steps where some sequence resets.

    :param rnn: a sequence-first (``batch_first=False``) ``nn.GRU`` or ``nn.LSTM``
    :param inputs: ``(seq_len, batch, input_size)``
    :param state: the state before the first step (see :data:`RnnState`)
    :param is_first: ``(seq_len, batch)``, 1 (or ``True``) where a step is the first of an episode; ``None``: no reset
    :return: the last layer's outputs ``(seq_len, batch, hidden_size)`` and the state after the last step
    """
    seq_len = inputs.shape[0]
    if is_first is None:
        keep = th.ones(seq_len, inputs.shape[1], dtype=inputs.dtype, device=inputs.device)
    else:
        keep = 1.0 - is_first.to(dtype=inputs.dtype).reshape(seq_len, -1)
    cuts = (th.nonzero((keep[1:] < 1.0).any(dim=1)).flatten() + 1).tolist()
    gru = isinstance(rnn, nn.GRU)
    outputs = []
    for begin, end in pairwise([0, *cuts, seq_len]):
        state = tuple(s * keep[begin].view(1, -1, 1) for s in state)  # times 0 is exactly the zero state
        output, new = rnn(inputs[begin:end], state[0] if gru else state)
        state = (new,) if gru else tuple(new)
        outputs.append(output)
    return (th.cat(outputs) if len(outputs) > 1 else outputs[0]), state
