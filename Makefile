# MedLens: two set-up commands on a fresh machine — `make demo` and `make test`.
# Everything they need (virtual environment, Python packages, Debian packages for the virtual
# screen, the sample study) is installed here, so nothing depends on what was set up by hand.

PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv debs sample lint bench members clean

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

# Orthanc (the PACS tests' real server) listens on every interface, so pytest runs in a private
# network namespace that has only loopback; where unshare is not permitted those tests skip with
# a reason and the rest still run.
test: venv debs sample lint
	@if unshare -n true 2>/dev/null; then \
	  unshare -n sh -c 'ip link set lo up && exec $(BIN)/python -m pytest'; \
	else \
	  echo "unshare -n not permitted here: PACS tests will skip"; $(BIN)/python -m pytest; \
	fi

# The lesion U-Net members the model cards' cross-validated figures were computed with, from git into
# the training cache, so evaluate.py re-derives them without a retrain (medlens/training/member_archive.py).
members: venv
	$(BIN)/python -m medlens.training.member_archive restore

bench: venv sample
	$(BIN)/python bench/load.py
	$(BIN)/python bench/scroll.py

include packaging/package.mk

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
