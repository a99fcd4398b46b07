# make book      build the HTML book into _build/html, every chapter executed afresh
# make test      run every test: unit, property, lab, browser, build, and each chapter (nbval)
# make notebooks open the chapters in JupyterLab on http://127.0.0.1:8888
# make lab       rerun the real-systems lab (RabbitMQ, nginx, HAProxy on 127.0.0.1) and refresh its record
# make clean     remove _build and the test caches

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
BUILD  := _build

.PHONY: book test notebooks lab vendor clean

# The venv is created once; each requirements file is installed again only when it
# changes (the stamp files in .venv remember the last install).
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip

$(VENV)/.book-stamp: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -r requirements.txt
	touch $@

$(VENV)/.test-stamp: requirements-test.txt $(VENV)/.book-stamp
	$(BIN)/pip install -r requirements-test.txt
	touch $@

# JavaScript for offline HTML (RequireJS, ipywidgets HTML manager, MathJax) from npm.
vendor:
	bash scripts/vendor_assets.sh

# Always a clean build (scripts/build_book.py removes _build first), so an edit to
# mqlb/ always shows. Chapters run in parallel into a fresh jupyter-cache, then
# jupyter-book builds from it with warnings as errors.
book: $(VENV)/.book-stamp vendor
	$(BIN)/python scripts/build_book.py
	@echo "Open $(BUILD)/html/index.html"

# pytest exits 5 when it collected no test: treat that as a failure with a reason.
test: $(VENV)/.test-stamp vendor
	$(BIN)/python -m pytest || { s=$$?; [ $$s -ne 5 ] || echo "pytest collected no tests" >&2; exit $$s; }

# JupyterLab (from requirements-test.txt, with jupyterlab-myst, which renders the
# chapters' MyST: exercises, folded solutions, citations) opens the MyST chapters
# as notebooks through jupytext; the lab settings copied into .venv make that the
# default for .md files and turn the news question off.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json

notebooks: $(VENV)/.test-stamp
	mkdir -p $(dir $(LAB_SETTINGS))
	cp scripts/jupyterlab-overrides.json $(LAB_SETTINGS)
	$(BIN)/jupyter lab --ip=127.0.0.1 --port=8888 --notebook-dir=. $(if $(filter 0,$(shell id -u)),--allow-root)

# Needs Debian's rabbitmq-server, nginx and haproxy (see lab/README.md).
lab: $(VENV)/.test-stamp
	$(BIN)/python -m lab run --out lab/results/latest.json

clean:
	rm -rf $(BUILD) .pytest_cache .hypothesis
