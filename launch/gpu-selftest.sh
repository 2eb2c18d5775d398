#!/usr/bin/env bash
# GPU self-test for a GPU host, with or without .NET: runs `ringattn info`, the GPU checks (`ringattn selftest`:
# kernels vs the CPU backend over a shape grid, the emulated ring on one GPU vs single-device attention for every
# layout), one verified emulated ring run, and the forward-kernel benchmark (TFLOP/s at head_dim 64/128,
# N = 4K..64K, causal and not, against the device's peak); with more than one GPU, also a verified multi-GPU run
# (one rank per GPU under mpiexec, the ring over NCCL; its report shows per-rank link bandwidth and hidden
# exchange time) and its comparison, rank by rank, with the emulated ring on one GPU (identical O and LSE bytes).
# Prints one report and saves it.
# Usage: bash launch/gpu-selftest.sh [path/to/ringattn]
#   Default binary: artifacts/gpu/ringattn, built with launch/build-gpu.sh when missing and dotnet is present.
#   Needs the NVIDIA driver (libcuda.so.1) and NVRTC (libnvrtc.so.13/.12/.11.2, or RINGATTN_NVRTC=/path/to/libnvrtc.so);
#   the multi-GPU steps need NCCL (libnccl.so.2) and an mpiexec (MPIEXEC=..., as for launch/mpirun.sh).
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
gpus="$("$binary" info 2>/dev/null | sed -n 's/^cuda driver .*, \([0-9][0-9]*\) device(s).*/\1/p')"
gpus="${gpus:-0}"
declare -A status
steps=(info selftest ring-run bench)
run_step() {
  local name="$1"; shift
  echo
  echo "=== $name: $*"
  "$@"
  status["$name"]=$?
}
# The problem of the multi-GPU run, also run as P virtual ranks on one GPU: the two must give identical digests.
multi_problem=(--seq $((gpus * 16384)) --heads 16 --kv-heads 4 --head-dim 128 --causal --layout zigzag --dtype BFloat16 --verify-rows 16 --digest)
# multi_gpu FILE COMMAND...: runs the command, showing its output and keeping a copy; quiet FILE COMMAND...: only keeps it.
multi_gpu() { local file="$1"; shift; "$@" 2>&1 | tee "$file"; return "${PIPESTATUS[0]}"; }
quiet() { local file="$1"; shift; "$@" > "$file" 2>&1; }
digests() { sed -n 's/^digests   \([0-9a-f ]*\) (.*/\1/p' "$1"; }
compare_digests() {
  local mpi emulated
  mpi="$(digests "$1")"; emulated="$(digests "$2")"
  echo "multi-gpu digests: $mpi"
  echo "emulated digests:  $emulated"
  [ -n "$mpi" ] && [ "$mpi" = "$emulated" ]
}

{
  echo "ringattn GPU self-test on $(hostname), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
  run_step info "$binary" info
  run_step selftest "$binary" selftest
  run_step ring-run "$binary" run --backend cuda --ranks 4 --seq 32768 --heads 8 --head-dim 128 --causal --layout zigzag --dtype BFloat16 --verify-rows 16
  run_step bench "$binary" bench-gpu --head-dims 64,128 --lengths 4096,8192,16384,32768,65536
  if [ "$gpus" -gt 1 ]; then
    steps+=(multi-gpu multi-gpu-vs-emulation)
    work="$(mktemp -d)"
    run_step multi-gpu multi_gpu "$work/mpi.txt" "$root/launch/mpirun.sh" -n "$gpus" "$binary" run --backend cuda "${multi_problem[@]}"
    run_step emulated-ring quiet "$work/emulated.txt" "$binary" run --backend cuda --transport emulation --ranks "$gpus" "${multi_problem[@]}"
    run_step multi-gpu-vs-emulation compare_digests "$work/mpi.txt" "$work/emulated.txt"
    [ "${status[emulated-ring]}" -eq 0 ] || status[multi-gpu-vs-emulation]=1
    rm -rf "$work"
  else
    echo
    echo "=== multi-gpu: skipped ($gpus GPU(s) here; it needs 2 or more)"
  fi
  echo
  echo "=== summary"
  failed=0
  for name in "${steps[@]}"; do
    verdict=$([ "${status[$name]}" -eq 0 ] && echo ok || echo "FAILED (exit ${status[$name]})")
    [ "${status[$name]}" -eq 0 ] || failed=1
    echo "$name: $verdict"
  done
  echo "report saved to $report"
  exit $failed
} 2>&1 | tee "$report"
exit "${PIPESTATUS[0]}"
