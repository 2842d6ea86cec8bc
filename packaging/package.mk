# Packaged installer demo: `make package` (PyInstaller one-folder build + .deb) and `make package-test`
# (smoke test of the frozen build, headless). Included from the top-level Makefile, which defines
# BIN, venv and sample. Owned by packaging; see packaging/README.md.
#
#   PACKAGE_TORCH=1           bundle torch: TorchScript plugins + saliency maps (default; 0 = ONNX-only)
#   PACKAGE_ALLOW_BROKEN=1    build even when a built-in plugin's manifest/weights do not check
#                             (those plugins are left out of the bundle instead of failing the build)

PACKAGE_TORCH ?= 1
PACKAGE_ALLOW_BROKEN ?= 0
PYINSTALLER_REQ := pyinstaller>=6.10,<7

.PHONY: package package-bundle package-deb package-test package-clean

$(BIN)/pyinstaller: | venv
	$(BIN)/python -m pip install -q --disable-pip-version-check "$(PYINSTALLER_REQ)"

package-bundle: venv sample $(BIN)/pyinstaller
	@start=$$(date +%s); \
	$(BIN)/python packaging/prepare.py $(if $(filter 1,$(PACKAGE_ALLOW_BROKEN)),--allow-broken) && \
	MEDLENS_BUNDLE_TORCH=$(PACKAGE_TORCH) $(BIN)/pyinstaller --noconfirm --clean --log-level WARN \
	  --distpath dist --workpath build/pyinstaller packaging/medlens.spec && \
	echo "package: dist/medlens $$(du -sh dist/medlens | cut -f1) (torch=$(PACKAGE_TORCH)), built in $$(( $$(date +%s) - start )) s"

package-deb: package-bundle
	@bash packaging/linux/build_deb.sh dist/medlens dist

package: package-deb

package-test:
	@test -x dist/medlens/medlens || { echo "dist/medlens/medlens missing: run 'make package' first"; exit 2; }
	@start=$$(date +%s); $(BIN)/python packaging/smoke_test.py --bundle dist/medlens --work build/package-smoke; \
	rc=$$?; echo "package-test: $$(( $$(date +%s) - start )) s"; exit $$rc

package-clean:
	rm -rf build/medlens_data build/pyinstaller build/deb build/package-smoke dist/medlens dist/medlens_*.deb
