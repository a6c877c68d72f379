# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test stop install browser-deps clean-var

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e ".[test]"
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

run: install
	$(BIN)/python -m config.run

# Chromium (Debian's package) for the browser tests, and CJK fonts so Korean and Chinese render.
browser-deps:
	@command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "noto.*cjk" || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	  else echo "install Debian's chromium and fonts-noto-cjk (needs root)" >&2; exit 1; fi; }

test: install browser-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Stops the embedded PostgreSQL and Redis under var/ (a Ctrl-C on `make run` and the end of
# `make test` already stop what they started).
stop:
	$(BIN)/python -c "from config import services; services.stop_all()"

clean-var:
	$(BIN)/python -c "from config import services; services.stop_all()" || true
	rm -rf var
