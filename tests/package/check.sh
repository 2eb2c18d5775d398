#!/usr/bin/env bash
# Packaging checks (run by tests/run.sh): packs the libraries and the ringattn tool into a temporary feed, installs
# the tool into a temporary tool path, runs `ringattn info` and a small verified run with it, and builds and runs
# tests/consumer against the packages. Prints "pass NAME" or "fail NAME" per check (counted in the test summary)
# and exits non-zero when any check failed. Usage: bash tests/package/check.sh [results-file]
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
results="${1:-/dev/null}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
feed="$work/feed"; tools="$work/tools"
# A version of its own per run, so no package cache can hand back an older build under the same version.
version="0.1.0-ci.$(date +%s).$$"
failed=0

check() {
    local name="$1"; shift
    if "$@" >"$work/log" 2>&1; then
        echo "pass $name" | tee -a "$results"
    else
        echo "fail $name" | tee -a "$results"
        tail -n 30 "$work/log"
        failed=1
    fi
}

check "package: dotnet pack (RingAttention, .Mpi, .Cuda, .Nccl, .IO, the ringattn tool)" \
    dotnet pack "$root/RingAttention.sln" -c Release -o "$feed" -p:Version="$version"
packages_present() {
    for id in RingAttention RingAttention.Mpi RingAttention.Cuda RingAttention.Nccl RingAttention.IO RingAttention.Cli; do
        [ -f "$feed/$id.$version.nupkg" ] && [ -f "$feed/$id.$version.snupkg" ] || { echo "missing $id.$version.(s)nupkg"; return 1; }
    done
    # The library packages carry the README, the license, the XML docs; the CUDA one its kernel sources (embedded).
    local listing
    for id in RingAttention RingAttention.Mpi RingAttention.Cuda RingAttention.Nccl RingAttention.IO; do
        listing="$(unzip -l "$feed/$id.$version.nupkg")"
        for file in "lib/net10.0/$id.xml" "README.md" "LICENSE"; do
            grep -q "$file" <<<"$listing" || { echo "$id: no $file"; return 1; }
        done
    done
    unzip -p "$feed/RingAttention.Cuda.$version.nupkg" lib/net10.0/RingAttention.Cuda.dll >"$work/cuda.dll"
    grep -aq "kernels/flash_fwd.cu" "$work/cuda.dll" || { echo "RingAttention.Cuda: no embedded kernels/flash_fwd.cu"; return 1; }
}
check "package: every package with README, license, XML docs, symbols; CUDA kernels embedded" packages_present
check "package: dotnet tool install RingAttention.Cli" \
    dotnet tool install --tool-path "$tools" --add-source "$feed" RingAttention.Cli --version "$version"
check "package: installed ringattn info" "$tools/ringattn" info
check "package: installed ringattn run verifies" \
    "$tools/ringattn" run --ranks 3 --seq 300 --heads 2 --head-dim 16 --causal --verify-rows 6
check "package: consumer project runs emulated attention from the packages" \
    dotnet run --project "$root/tests/consumer" -c Release -p:RingAttentionVersion="$version" -p:RestoreAdditionalProjectSources="$feed" \
        -p:BaseIntermediateOutputPath="$work/consumer-obj/" -p:BaseOutputPath="$work/consumer-bin/"
exit $failed
