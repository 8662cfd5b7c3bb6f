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
# and idle OpenMP threads spin-wait on shared cores. Each test module runs
# whole on one worker, so its shared set-up (a trained model, a run) is
# made once, in the order tests/conftest.py gives: the end-to-end modules
# first. PYTEST_ARGS adds options, e.g. PYTEST_ARGS='-m "not e2e"' for the
# unit tests only, or --durations=15 as CI does.
PYTEST_ARGS ?=
test: install
	OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q -n auto --dist loadfile \
		--no-loadscope-reorder $(PYTEST_ARGS)

quickstart: install
	PYTHON=$(CURDIR)/.venv/bin/python bash tools/quickstart.sh
