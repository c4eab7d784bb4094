"""The error of the benchmark runner: bad input, named in the message (a module of its own so that every other module
of the package can raise it without importing any of the others)."""


class ConfigError(ValueError):
    """A suite, hyperparameter file or value the runner cannot use; the message names the bad value."""


__all__ = ["ConfigError"]
