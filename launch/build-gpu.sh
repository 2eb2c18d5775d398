#!/usr/bin/env bash
# Builds a self-contained single-file `ringattn` for linux-x64 (no .NET needed on the GPU host; the CUDA C kernels
# travel inside it and are compiled by the host's NVRTC on first use). Fails if the file exceeds 60 MB.
# Usage: bash launch/build-gpu.sh [output folder, default artifacts/gpu]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/artifacts/gpu}"
limit_mb=60

dotnet publish "$root/src/RingAttention.Cli/RingAttention.Cli.csproj" -c Release -r linux-x64 --self-contained true \
  -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=true \
  -p:DebugType=none -p:GenerateDocumentationFile=false -o "$out" -v quiet -nologo

binary="$out/ringattn"
bytes=$(stat -c %s "$binary")
mb=$(( (bytes + 1048575) / 1048576 ))
echo "built $binary: $bytes bytes (~${mb} MB, limit ${limit_mb} MB)"
if [ "$bytes" -gt $(( limit_mb * 1048576 )) ]; then
  echo "error: $binary is larger than ${limit_mb} MB" >&2
  exit 1
fi
