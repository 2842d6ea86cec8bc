#!/usr/bin/env bash
# Installs the Debian packages the tests need (a virtual screen, OSMesa for VTK,
# the X/xcb libraries Qt's platform plugins load). Skips apt when everything is already there,
# so a second `make test` costs nothing and a machine without root can still run it once set up.
set -euo pipefail
pkgs=(xvfb xauth libosmesa6 libgl1 libegl1 libgl1-mesa-dri libglx-mesa0 libxkbcommon-x11-0
      libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-randr0
      libxcb-shape0 libxcb-xkb1 libx11-xcb1 libfontconfig1
      mricron-data  # Colin27 T1 + brain mask: the deepbet adapter's Dice test
      orthanc orthanc-dicomweb iproute2 util-linux  # a real PACS for the tests, in a private netns
      socat)  # the TLS front of that PACS in the HTTPS tests
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
