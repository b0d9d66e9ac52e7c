# Each target bootstraps .venv itself.
PY := .venv/bin/python
VENV_STAMP := .venv/.installed

$(VENV_STAMP): pyproject.toml
	python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q -e ".[dev]"
	touch $(VENV_STAMP)

.PHONY: run test test-containers bench lint
run: $(VENV_STAMP)
	.venv/bin/badgepulse up --demo

test: $(VENV_STAMP)
	$(PY) -m pytest -q

# The stream and end-to-end tests against Apache Kafka (KRaft) and Redis in Docker
# (testcontainers); where Docker does not run they skip, saying why in one line.
test-containers: $(VENV_STAMP)
	$(PY) -m pytest -q --containers tests/stream tests/e2e

bench: $(VENV_STAMP)
	$(PY) bench/bench_worker.py
	$(PY) bench/bench_parse.py

lint: $(VENV_STAMP)
	.venv/bin/ruff check .
	.venv/bin/mypy schemas core streams api badgepulse
	.venv/bin/lint-imports
