#!/usr/bin/env bash
# One node with 8 GPUs: 8 ranks under mpiexec, one per GPU (rank r takes the GPU of its local rank r), K/V blocks
# passed GPU to GPU over NCCL (NVLink/NVSwitch inside the node), MPI only for the bootstrap and the report.
#
# Usage: launch/mpirun-8gpu.sh [ringattn run options]
#   With no options it runs the example below (N = 256K tokens, 32K per GPU, GQA 32/8 heads, bf16, causal, zigzag).
#   GPUS=4          ranks/GPUs to use (default 8)
#   RINGATTN=path   the ringattn binary (default artifacts/gpu/ringattn from launch/build-gpu.sh when present,
#                   else this repository's Release build)
#   MPIEXEC=...     mpiexec.openmpi or mpiexec.mpich (default mpiexec), as for launch/mpirun.sh
#   NCCL_DEBUG=INFO shows how NCCL connects the GPUs (P2P/NVLink, SHM, NET) and why it fails if it does
# The wrapper launch/mpirun.sh binds each rank to its own share of the cores (rank r to the r-th block, which on a
# typical 2-socket node keeps ranks 0-3 next to GPUs 0-3); add --bind-to/--map-by to choose otherwise.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
gpus="${GPUS:-8}"
binary="${RINGATTN:-}"
if [ -z "$binary" ]; then
  if [ -x "$root/artifacts/gpu/ringattn" ]; then binary="$root/artifacts/gpu/ringattn"; else binary=ringattn; fi
fi
if [ $# -eq 0 ]; then
  set -- --seq $((gpus * 32768)) --heads 32 --kv-heads 8 --head-dim 128 --causal --layout zigzag --dtype BFloat16 --verify-rows 16
fi
export NCCL_DEBUG="${NCCL_DEBUG:-WARN}"
exec "$root/launch/mpirun.sh" -n "$gpus" "$binary" run --backend cuda "$@"
