#!/usr/bin/env bash
# Installs the system packages the tests and multi-process runs use, when missing (Debian/Ubuntu, as root or with
# sudo): Open MPI and MPICH (real multi-process runs), NVRTC 11.2 from the non-free component (compiles the CUDA
# kernels without a GPU), g++ (builds the software GPU of tools/gpu-emulator, which runs the GPU path on the CPU),
# and NumPy (writes reference .npy files). Idempotent and quiet when all is present.
set -euo pipefail
packages=(openmpi-bin libopenmpi3 mpich libmpich12 libnvrtc11.2 g++ python3-numpy)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
# NVRTC lives in Debian's non-free component.
if [ -f /etc/apt/sources.list.d/debian.sources ] && ! grep -q "non-free" /etc/apt/sources.list.d/debian.sources; then
  $sudo sed -i 's/^Components: main$/Components: main contrib non-free/' /etc/apt/sources.list.d/debian.sources
fi
if [ -f /etc/apt/sources.list ] && grep -q "^deb .*debian.* main$" /etc/apt/sources.list; then
  $sudo sed -i 's/^\(deb .*debian.* main\)$/\1 contrib non-free/' /etc/apt/sources.list
fi
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
