# The two commands of the README. Both install into .venv first if needed.
.PHONY: run test test-fast lint bench dist lock

run:
	@scripts/bootstrap.sh
	.venv/bin/kindred

test:
	@scripts/bootstrap.sh
	.venv/bin/python -m pytest

test-fast:
	@scripts/bootstrap.sh
	KINDRED_UNMARKED_LIMIT_S=30 .venv/bin/python -m pytest -m "not slow"

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

lock:
	scripts/relock.sh
