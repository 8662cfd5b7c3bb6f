.PHONY: install test quickstart

# Each target installs what is missing first; a second install checks a stamp
# and returns in seconds.
install:
	bash tools/install.sh

# One process per core, each on one torch thread: the tests run tiny models,
# and idle OpenMP threads spin-wait on shared cores.
test: install
	OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q -n auto

quickstart: install
	PYTHON=$(CURDIR)/.venv/bin/python bash tools/quickstart.sh
