# Two commands are the whole set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run demo test install bot bot-canvas clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The server on its embedded defaults, with labelled DEMO BOTS of every mode
# in its process, so every page shows live activity at once.
run: $(STAMP)
	$(PY) -m arena serve --config config.toml --demo

demo: run

# The server alone (no demo bots).
serve: $(STAMP)
	$(PY) -m arena serve --config config.toml

bot: $(STAMP)
	$(PY) -m arena bot --count 4

bot-canvas: $(STAMP)
	$(PY) -m arena bot --mode canvas --count 8 --show 15

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
