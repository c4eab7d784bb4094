"""Test-session settings."""

import torch as th

# The suite runs its tiny models on one thread per worker (`pytest -n 2` uses both cores): intra-op threads only
# add synchronisation overhead at these sizes, and one thread makes CPU results reproducible bit for bit.
th.set_num_threads(1)
