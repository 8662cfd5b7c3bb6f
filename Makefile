.PHONY: install lint test quickstart

# Each target installs what is missing first; a second install checks a stamp
# and returns in seconds.
install:
	bash tools/install.sh

# flake8 and isort as configured in setup.cfg; isort --diff shows the fix,
# `.venv/bin/python -m isort .` applies it.
lint: install
	.venv/bin/python -m flake8 .
	.venv/bin/python -m isort --check-only --diff .

# One process per core, each on one torch thread: the tests run tiny models,
# and idle OpenMP threads spin-wait on shared cores. Tests that share a
# module-scoped set-up run on one worker (loadgroup, see tests/conftest.py).
# PYTEST_ARGS adds options, e.g. PYTEST_ARGS='-m "not e2e"' for the unit
# tests only, or --durations=15 as CI does.
PYTEST_ARGS ?=
test: install
	OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q -n auto --dist loadgroup \
		$(PYTEST_ARGS)

quickstart: install
	PYTHON=$(CURDIR)/.venv/bin/python bash tools/quickstart.sh
