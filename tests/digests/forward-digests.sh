#!/usr/bin/env bash
# Prints the forward O/LSE digests (ringattn --digest: XxHash3 of each rank's O and LSE bytes) of a fixed set of
# runs: emulation for every layout, fp32 and BFloat16, causal and not; and the same problems under mpiexec -n 4
# with Open MPI and with MPICH. A refactoring of the ring must leave every line identical (compare with
# tests/digests/forward-digests.txt):  bash tests/digests/forward-digests.sh | diff tests/digests/forward-digests.txt -
# Builds ringattn (Release) first; runs single-threaded so every run makes the same kernel calls.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dotnet build "$root/src/RingAttention.Cli/RingAttention.Cli.csproj" -c Release -nologo -v quiet >&2
ringattn="$root/src/RingAttention.Cli/bin/Release/net10.0/ringattn"
problem=(--ranks 4 --seq 4096 --batch 1 --heads 4 --kv-heads 2 --head-dim 64 --seed 11 --verify-rows 2 --threads 1 --digest --json)

digests() { python3 -c 'import json,sys; t=sys.stdin.read(); j=json.loads(t[t.index("{"):t.rindex("}")+1]); assert j["Verified"]; print(" ".join(r["OutputDigest"] for r in sorted(j["RankSummaries"], key=lambda r: r["Rank"])))'; }

for layout in contiguous zigzag striped; do
  for dtype in Float32 BFloat16; do
    for causal in false true; do
      flags=(--layout "$layout" --dtype "$dtype"); [ "$causal" = true ] && flags+=(--causal)
      name="$layout $dtype causal=$causal"
      line="$("$ringattn" run --transport emulation "${problem[@]}" "${flags[@]}" | digests)"
      echo "emulation $name: $line"
      for family in openmpi mpich; do
        if command -v "mpiexec.$family" >/dev/null; then
          line="$(bash "$root/launch/mpirun.sh" --mpiexec "mpiexec.$family" --oversubscribe -n 4 "$ringattn" run --transport mpi "${problem[@]}" "${flags[@]}" 2>/dev/null | digests)"
          echo "$family-4 $name: $line"
        fi
      done
    done
  done
done
