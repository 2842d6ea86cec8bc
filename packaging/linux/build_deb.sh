#!/usr/bin/env bash
# Wrap the PyInstaller one-folder build (dist/medlens) into a Debian package with dpkg-deb:
#   /opt/medlens/                  the bundle (app, Qt/VTK runtime, plugins, sample study)
#   /usr/bin/medlens               -> /opt/medlens/medlens (the CLI and the viewer)
#   /usr/share/applications/       desktop entry (menu item, "Open with MedLens" for .dcm/.nii/.nii.gz)
#   /usr/share/mime/packages/      MIME types for .dcm, .nii, .nii.gz
#   /usr/share/icons/hicolor/      the icon (SVG + PNG)
# No maintainer scripts: the shared-mime-info, desktop-file-utils and hicolor icon-theme packages
# refresh their caches through dpkg file triggers on these folders.
# Usage: packaging/linux/build_deb.sh [BUNDLE_DIR] [OUT_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUNDLE="${1:-$ROOT/dist/medlens}"
OUT="${2:-$ROOT/dist}"
VERSION="$("$BUNDLE/medlens" --version | awk '{print $2}')"
ARCH="$(dpkg --print-architecture)"
STAGE="$ROOT/build/deb/medlens_${VERSION}_${ARCH}"

test -x "$BUNDLE/medlens" || { echo "build_deb: $BUNDLE/medlens missing; run make package first" >&2; exit 2; }
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
  "$STAGE/usr/share/mime/packages" "$STAGE/usr/share/icons/hicolor/scalable/apps" \
  "$STAGE/usr/share/icons/hicolor/256x256/apps" "$STAGE/usr/share/icons/hicolor/48x48/apps" \
  "$STAGE/usr/share/doc/medlens"
cp -a "$BUNDLE" "$STAGE/opt/medlens"
ln -s ../../opt/medlens/medlens "$STAGE/usr/bin/medlens"
install -m 644 "$ROOT/resources/medlens.desktop" "$STAGE/usr/share/applications/medlens.desktop"
install -m 644 "$ROOT/resources/medlens-mime.xml" "$STAGE/usr/share/mime/packages/medlens.xml"
install -m 644 "$ROOT/resources/medlens.svg" "$STAGE/usr/share/icons/hicolor/scalable/apps/medlens.svg"
install -m 644 "$ROOT/resources/medlens.png" "$STAGE/usr/share/icons/hicolor/256x256/apps/medlens.png"
install -m 644 "$ROOT/resources/medlens-48.png" "$STAGE/usr/share/icons/hicolor/48x48/apps/medlens.png"
cat > "$STAGE/usr/share/doc/medlens/copyright" <<TXT
MedLens $VERSION — BSD 3-Clause licence. Not for clinical use; not a medical device.
Bundled sample data: pyradiomics 3.0.1 (lung1, brain1), BSD 3-Clause, (c) the pyradiomics developers.
Bundled third-party runtimes keep their licences: Qt 6 / PySide6 (LGPLv3), VTK (BSD-3), SimpleITK
(Apache-2.0), pydicom (MIT), ONNX Runtime (MIT), NumPy/SciPy (BSD-3), PyTorch (BSD-3, when bundled).
TXT
SIZE_KB="$(du -sk "$STAGE" | cut -f1)"
# The bundle carries its own Python, Qt and VTK; from the system it needs the graphics stack and the
# X11/Wayland client libraries Qt's platform plugins link to (PyInstaller leaves those out on purpose).
cat > "$STAGE/DEBIAN/control" <<CTL
Package: medlens
Version: $VERSION
Architecture: $ARCH
Maintainer: MedLens developers <medlens@localhost>
Installed-Size: $SIZE_KB
Section: science
Priority: optional
Depends: libc6 (>= 2.31), libgl1, libegl1, libfontconfig1, libfreetype6, libglib2.0-0, libdbus-1-3, libx11-6, libx11-xcb1, libxkbcommon0, libxkbcommon-x11-0, libxcb-cursor0, libxcb-icccm4, libxcb-image0, libxcb-keysyms1, libxcb-randr0, libxcb-render-util0, libxcb-shape0, libxcb-xinerama0, libxcb-xkb1, libxrender1, libxext6, libxi6
Recommends: shared-mime-info, desktop-file-utils, libosmesa6
Description: medical image viewer with local AI assist (not for clinical use)
 MedLens opens DICOM series, NIfTI, NRRD and MHA studies in linked slice and 3D views and runs
 AI plugins (segmentation, classification with saliency maps, denoising) on this computer,
 offline. It ships a sample chest CT and brain MR. Research and demonstration software:
 not a medical device, not for clinical use. libosmesa6 is only needed for headless use
 (medlens screenshot / infer without a display).
CTL
COMP=xz
dpkg-deb --help 2>/dev/null | grep -q zstd && COMP=zstd
mkdir -p "$OUT"
dpkg-deb --root-owner-group -Z"$COMP" --build "$STAGE" "$OUT/medlens_${VERSION}_${ARCH}.deb" >/dev/null
echo "build_deb: $OUT/medlens_${VERSION}_${ARCH}.deb ($(du -h "$OUT/medlens_${VERSION}_${ARCH}.deb" | cut -f1), installed $((SIZE_KB / 1024)) MiB, $COMP)"
