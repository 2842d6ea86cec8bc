# MedLens: two set-up commands on a fresh machine — `make demo` and `make test`.
# Everything they need (virtual environment, Python packages, Debian packages for the virtual
# screen, the sample study) is installed here, so nothing depends on what was set up by hand.

PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv debs sample lint bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[test,sample,bench]"
	@touch $@

venv: $(STAMP)

debs:
	@bash scripts/install-debs.sh

sample: venv
	@$(BIN)/python -m medlens.sample --print root >/dev/null

demo: venv sample
	@if [ -z "$$DISPLAY" ] && [ -z "$$WAYLAND_DISPLAY" ] && [ -z "$$QT_QPA_PLATFORM" ]; then \
	  echo "No display found: the viewer window needs a screen."; \
	  echo "  On a desktop, run 'make demo' there; on a server, 'xvfb-run -a make demo'."; \
	  echo "  Headless, render views to a PNG instead: $(BIN)/medlens screenshot PATH --out views.png"; \
	  $(BIN)/medlens screenshot "$$($(BIN)/python -m medlens.sample --print ct)" --out demo-screenshot.png; \
	else \
	  $(BIN)/medlens view "$$($(BIN)/python -m medlens.sample --print dicom)"; \
	fi

lint: venv
	$(BIN)/ruff check .

test: venv debs sample lint
	$(BIN)/python -m pytest

bench: venv sample
	$(BIN)/python bench/load.py
	$(BIN)/python bench/scroll.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
