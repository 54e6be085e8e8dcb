# The two commands of the README. Both install into .venv first if needed.
.PHONY: run test lint bench dist

run:
	@scripts/bootstrap.sh
	.venv/bin/kindred

test:
	@scripts/bootstrap.sh
	.venv/bin/python -m pytest

lint:
	@scripts/bootstrap.sh
	.venv/bin/ruff check app tests bench
	.venv/bin/mypy

bench:
	@scripts/bootstrap.sh
	.venv/bin/python bench/chat.py

dist:
	@scripts/bootstrap.sh
	.venv/bin/python packaging/build.py
