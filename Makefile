# cityhub task runner. `make demo` and `make test` install what they need first.
.PHONY: setup demo serve test lint typecheck unit migrate revision bench clean

VENV := .venv/bin
PYTEST_WORKERS ?= 2

setup:
	@scripts/setup.sh

demo: setup
	$(VENV)/cityhub demo $(DEMO_ARGS)

serve: setup
	$(VENV)/cityhub serve

migrate: setup
	$(VENV)/cityhub migrate

revision: setup
	$(VENV)/python -m cityhub.kit.migrate $(if $(HEAD),--head $(HEAD)) $(MESSAGE)

lint: setup
	$(VENV)/ruff check cityhub tests bench
	$(VENV)/ruff format --check cityhub tests bench

typecheck: setup
	$(VENV)/mypy

unit: setup
	$(VENV)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test: lint typecheck unit

bench: setup
	$(VENV)/python bench/run.py

clean:
	rm -rf .venv node_modules data artifacts .mypy_cache .ruff_cache .pytest_cache cityhub/web/static
