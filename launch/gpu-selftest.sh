#!/usr/bin/env bash
# GPU self-test for a GPU host, with or without .NET: runs `ringattn info`, the GPU checks (`ringattn selftest`:
# kernels vs the CPU backend over a shape grid, the emulated ring on one GPU vs single-device attention for every
# layout), one verified emulated ring run, and the forward-kernel benchmark (TFLOP/s at head_dim 64/128,
# N = 4K..64K, causal and not, against the device's peak); prints one report and saves it.
# Usage: bash launch/gpu-selftest.sh [path/to/ringattn]
#   Default binary: artifacts/gpu/ringattn, built with launch/build-gpu.sh when missing and dotnet is present.
#   Needs the NVIDIA driver (libcuda.so.1) and NVRTC (libnvrtc.so.13/.12/.11.2, or RINGATTN_NVRTC=/path/to/libnvrtc.so).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
binary="${1:-$root/artifacts/gpu/ringattn}"
if [ ! -x "$binary" ]; then
  if command -v dotnet >/dev/null; then
    bash "$root/launch/build-gpu.sh" "$(dirname "$binary")" || exit 1
  else
    echo "error: $binary not found; build it with launch/build-gpu.sh on a machine with the .NET 10 SDK and copy it here" >&2
    exit 2
  fi
fi

report="${RINGATTN_REPORT:-$PWD/gpu-selftest-$(hostname)-$(date +%Y%m%d-%H%M%S).txt}"
declare -A status
run_step() {
  local name="$1"; shift
  echo
  echo "=== $name: $*"
  "$@"
  status["$name"]=$?
}

{
  echo "ringattn GPU self-test on $(hostname), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
  run_step info "$binary" info
  run_step selftest "$binary" selftest
  run_step ring-run "$binary" run --backend cuda --ranks 4 --seq 32768 --heads 8 --head-dim 128 --causal --layout zigzag --dtype BFloat16 --verify-rows 16
  run_step bench "$binary" bench-gpu --head-dims 64,128 --lengths 4096,8192,16384,32768,65536
  echo
  echo "=== summary"
  failed=0
  for name in info selftest ring-run bench; do
    verdict=$([ "${status[$name]}" -eq 0 ] && echo ok || echo "FAILED (exit ${status[$name]})")
    [ "${status[$name]}" -eq 0 ] || failed=1
    echo "$name: $verdict"
  done
  echo "report saved to $report"
  exit $failed
} 2>&1 | tee "$report"
exit "${PIPESTATUS[0]}"
