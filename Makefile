.PHONY: install test quickstart

# Each target installs what is missing first; a second install checks a stamp
# and returns in seconds.
install:
	bash tools/install.sh

test: install
	.venv/bin/python -m pytest -q

quickstart: install
	PYTHON=$(CURDIR)/.venv/bin/python bash tools/quickstart.sh
