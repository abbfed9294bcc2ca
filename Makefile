# The two commands a newcomer types: `make run` and `make test`.
# The first interpreter that really runs and is 3.11+ (pyenv shims may exist for
# versions that are not installed).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PG_DEFAULT := postgresql://postgres@127.0.0.1:5432/test

.PHONY: install run test lint bench clean chromium mutation demo

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Нужен Python 3.11 или новее: python3.11 не найден"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# Initialise ./var/ with the shipped roadmap (idempotent), show where it stands, then run
# the main job: the daemon in the foreground (Ctrl-C stops it gracefully). Letters go to
# ./var/mail/*.eml until SMTP is configured.
run: install
	$(BIN)/tochka init
	$(BIN)/tochka status
	$(BIN)/tochka daemon run

# The whole program replayed on a labelled sample by the daemon in simulated time, in its
# own folder var/demo/ (the real database is never touched); re-runnable.
demo: install
	$(BIN)/tochka demo

# All tests. PostgreSQL tests run when TOCHKA_TEST_PG_URL is set, or when a local server
# answers at 127.0.0.1:5432 (the default URL is then used).
test: install chromium
	@url="$$TOCHKA_TEST_PG_URL"; \
	if [ -z "$$url" ] && $(BIN)/python -c "import psycopg; psycopg.connect('$(PG_DEFAULT)', connect_timeout=3).close()" 2>/dev/null; then \
		url="$(PG_DEFAULT)"; fi; \
	if [ -n "$$url" ]; then echo "PostgreSQL для тестов: $$url"; else echo "PostgreSQL не найден: тесты PostgreSQL не запускаются (задайте TOCHKA_TEST_PG_URL)"; fi; \
	TOCHKA_TEST_PG_URL="$$url" $(BIN)/pytest -n 2 --dist loadgroup -p no:cacheprovider

# ruff, mypy (strict) and the layering contract of .importlinter (ARCHITECTURE.md, Layers).
lint: install
	$(BIN)/ruff check base states workflow notifications scheduler.py tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The mutation check (tools/mutation.py): each guarded line removed in a copy of the code,
# its tests must go red. Also run by `make test` (tests/test_mutation.py).
mutation: install
	@url="$$TOCHKA_TEST_PG_URL"; \
	if [ -z "$$url" ] && $(BIN)/python -c "import psycopg; psycopg.connect('$(PG_DEFAULT)', connect_timeout=3).close()" 2>/dev/null; then \
		url="$(PG_DEFAULT)"; fi; \
	TOCHKA_TEST_PG_URL="$$url" $(BIN)/python tools/mutation.py

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

# --- chromium (dashboard tests) --------------------------------------------------------
# The tests read what people see the way they see it: Debian's headless Chromium renders
# the dashboard and the final report, LibreOffice prints the XLSX reports, pdftotext
# (poppler-utils) reads the printed pages; the replies tests read a real IMAP server,
# Dovecot (dovecot-imapd, started by tests/dovecot.py with a private configuration on a
# loopback port, never the system's service). Each is installed only when missing; needs
# root (CI) or the programs already installed.
TEST_TOOLS := /usr/bin/chromium:chromium /usr/bin/soffice:libreoffice-calc-nogui \
	/usr/bin/pdftotext:poppler-utils /usr/sbin/dovecot:dovecot-imapd
chromium:
	@missing=""; for pair in $(TEST_TOOLS); do \
		test -x "$${pair%%:*}" || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
		echo "Устанавливается для тестов (apt-get):$$missing"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing \
		|| { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; }; fi
# --- end chromium ------------------------------------------------------------------------
