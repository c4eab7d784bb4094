"""Test-session settings."""

import torch as th

# The suite runs its tiny models on one thread per worker (`pytest -n 2` uses both cores): intra-op threads only
# add synchronisation overhead at these sizes, and one thread makes CPU results reproducible bit for bit.
th.set_num_threads(1)

# The docs' code examples run when this file is named, as ``make docs`` names it; a run that does not name it
# (``make test``, a bare ``pytest``) leaves them out, so that CI, which runs both, runs them once.
DOCS_EXAMPLES = "test_docs_examples.py"


def pytest_collection_modifyitems(config, items):
    if any(DOCS_EXAMPLES in arg for arg in config.args):
        return
    left_out = [item for item in items if item.path.name == DOCS_EXAMPLES]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item.path.name != DOCS_EXAMPLES]
