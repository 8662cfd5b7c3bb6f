.PHONY: install test

install:
	bash tools/install.sh

test:
	.venv/bin/python -m pytest -q
