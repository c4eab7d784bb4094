# Set-up and entry points. Each target creates the virtual environment on first use, so on a fresh machine
# `make demo` and `make test` are the only two commands needed.
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch on these machines; pass TORCH="torch" (or your CUDA build) to choose another.
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: setup demo compare test test-slow lint docs

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[all]"
	touch $@

# RecurrentPPO with the GRU policy solves CartPole without velocities; memoryless PPO beside it (about 2 minutes).
demo: setup
	$(BIN)/python examples/recurrent_ppo_cartpole_novel.py

# The README's quick comparison: Dreamer vs RecurrentPPO (LSTM and GRU, rl-zoo3's tuned settings) on
# rrl_sb3/PendulumNoVel-v1, 2 seeds, every run with the same CPU budget (180 s of training); prints the tables (per env
# step and per CPU second), writes report.md and the plot into runs/compare/ (re-running skips finished runs).
compare: setup
	$(BIN)/rrl-bench run benchmarks/suites/quick_comparison.yml --results runs/compare

test: setup
	$(BIN)/python -m pytest -n 2

test-slow: setup
	$(BIN)/python -m pytest -m slow

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# The documentation site (warnings are errors; nothing is downloaded): docs/_build/html/index.html.
docs: setup
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html
