# Set-up and entry points. Each target creates the virtual environment on first use, so on a fresh machine
# `make compare` (the main job) and `make test` are the only two commands needed.
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch on these machines; pass TORCH="torch" (or your CUDA build) to choose another.
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: setup demo compare test test-slow lint docs package type

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

# Type checking as Stable-Baselines3 does it: mypy on the package, its settings in pyproject.toml ([tool.mypy]).
type: setup
	$(BIN)/mypy rrl_sb3

# The documentation site (warnings are errors; nothing is downloaded): docs/_build/html/index.html; then the pages'
# code examples run with tiny budgets (tests/test_docs_examples.py, which `make test` leaves to this target).
docs: setup
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html
	$(BIN)/python -m pytest -q -n 2 tests/test_docs_examples.py

# The sdist and wheel as a release ships them, built into dist/ (a build warning is an error), checked by twine and by
# .ci/check_dist.py (LICENSE, README.md, py.typed, the packaged hyperparams, every module); then the wheel alone,
# after $(TORCH), installed into a new venv and imported from outside the clone. rl-zoo3 and rrl-bench from a wheel
# with the benchmark extra: tests/test_readme_commands.py::test_wheel_outside_the_repository.
package: setup
	rm -rf dist/rrl_sb3-* dist/build.log && mkdir -p dist
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m build --outdir dist . >dist/build.log 2>&1 || { cat dist/build.log; exit 1; }
	! grep -E '^(warning|WARNING)|Warning: |^!!' dist/build.log || { echo "the build printed a warning (dist/build.log)"; exit 1; }
	$(BIN)/twine check --strict dist/rrl_sb3-*
	$(BIN)/python .ci/check_dist.py dist
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && wheel=$$(ls "$$PWD"/dist/rrl_sb3-*.whl) && \
	$(PYTHON) -m venv "$$tmp/venv" && \
	"$$tmp/venv/bin/python" -m pip install --quiet "$(TORCH)" && \
	"$$tmp/venv/bin/python" -m pip install --quiet "$$wheel" && \
	"$$tmp/venv/bin/python" -m pip check && \
	cd "$$tmp" && env -u PYTHONPATH venv/bin/python -c 'import sys, rrl_sb3; from rrl_sb3 import Dreamer; \
	assert rrl_sb3.__file__.startswith(sys.prefix), rrl_sb3.__file__; print("rrl_sb3", rrl_sb3.__version__, "from", rrl_sb3.__file__)'
