#!/usr/bin/env bash
# The mutation check: injects known kinds of kernel bugs into a copy of kernels/, one at a time, and runs the GPU
# tests GpuTests+Kernels (the kernel suite on its software-GPU grid: fp32 and bf16, head dim 64, N = 70 and 333, causal
# and not, batch 2, GQA), FullyMaskedRowsTests and StateContinuationTests on the software GPU against each (the
# product's own CUDA backend, reading the mutated sources through RINGATTN_KERNEL_SOURCES; about half a minute of
# tests per mutant plus its g++ builds). A mutant is caught when the test fails:
# wrong results against the CPU backend and float64, or the emulator's race detector, cp.async tracking, collective
# checks or guard pages stopping the kernel. Prints one line per mutant and the catch rate; exits 1 if any survives.
# Usage: bash tools/gpu-emulator/mutations.sh [NAME...]   (needs tests/RingAttention.Cuda.Tests built in Release)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bash tools/gpu-emulator/build.sh --no-test >/dev/null || { echo "the software GPU did not build"; exit 1; }
build="$root/tools/gpu-emulator/build"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Every mutant starts from this snapshot, so editing kernels/ while the check runs changes nothing it measures.
mkdir -p "$work/unmutated"
cp kernels/*.cu kernels/*.cuh "$work/unmutated/"

# name@@file@@exact text@@replacement (the text must occur exactly once; texts may span lines and hold "|")
mutants=(
  "sync-after-k-wait@@flash_fwd.cu@@__syncthreads();  // K(tile) has landed@@// (removed) K(tile) has landed"
  "sync-after-v-wait@@flash_fwd.cu@@__syncthreads();  // V(tile) has landed@@// (removed) V(tile) has landed"
  "commit-of-v-load@@flash_fwd.cu@@ra_cp_async_commit();

        float s[@@
        float s["
  "wait-for-v@@flash_fwd.cu@@ra_cp_async_wait_all();
        __syncthreads();  // V(tile)@@__syncthreads();  // V(tile)"
  "ldmatrix-not-trans-for-v@@flash_fwd.cu@@ra_ldmatrix_x4_trans(b, v_fragment_address@@ra_ldmatrix_x4(b, v_fragment_address"
  "mask-off-by-one@@mask.cuh@@key_position > query_position[i][h]@@key_position >= query_position[i][h]"
  "ragged-end-unmasked@@mask.cuh@@key >= p.SeqLenK || @@key >= p.SeqLenK + kNBlocks * 8 || "
  "gqa-head-index@@flash_fwd.cu@@const int kv_head = head / (p.Heads / p.KvHeads);@@const int kv_head = head % p.KvHeads;"
  "no-minus-infinity-guard@@softmax.cuh@@float exponent_base = new_max == RA_NEG_INF ? 0.0f : new_max;@@float exponent_base = new_max;"
  "no-accumulator-rescale@@softmax.cuh@@acc_o[i][d][2 * h + 1] *= rescale;@@"
  "quad-sum-wrong-lane@@softmax.cuh@@return x + ra_shfl_xor(x, 2);@@return x + ra_shfl_xor(x, 4);"
  "quad-max-skipped@@softmax.cuh@@return fmaxf(x, ra_shfl_xor(x, 2));@@return x;"
  "no-swizzle-on-store@@fragments.cuh@@(chunk ^ (row & 7))@@chunk"
  "probabilities-swapped@@flash_fwd.cu@@pack_pair(block[probability_element(r)], block[probability_element(r) + 1])@@pack_pair(block[probability_element(r) + 1], block[probability_element(r)])"
  "finalize-lse-log2@@flash_finalize.cu@@(double)p.RowMax[stat] * 0.69314718055994530942 + log((double)sum)@@(double)p.RowMax[stat] + log((double)sum)"
  "fp32-warp-max-half@@flash_fwd_fp32.cu@@for (int offset = 16; offset > 0; offset >>= 1) {
        x = fmaxf@@for (int offset = 8; offset > 0; offset >>= 1) {
        x = fmaxf"
  "fp32-no-minus-infinity-guard@@flash_fwd_fp32.cu@@const float exponent_base = new_max == RA_NEG_INF_F32 ? 0.0f : new_max;@@const float exponent_base = new_max;"
  "warp-rows-overlap@@flash_fwd.cu@@const int warp_row0 = warp * kMTiles * 16;@@const int warp_row0 = warp * 16;"
  "last-key-tile-dropped@@flash_fwd.cu@@const int key_tiles = (keys_seen + kBlockN - 1) / kBlockN;@@const int key_tiles = keys_seen / kBlockN;"
  "incoming-sum-per-lane@@flash_fwd.cu@@row_sum[i][h] = live && (lane & 3) == 0 ? p.RowSum[stat] : 0.0f;@@row_sum[i][h] = live ? p.RowSum[stat] : 0.0f;"
  "fp32-barrier-before-scores@@flash_fwd_fp32.cu@@        __syncthreads();

        const int key = first_key + lane;@@
        const int key = first_key + lane;"
)

run_test() {
  LD_LIBRARY_PATH="$build${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" RINGATTN_NVRTC="$build/libnvrtc-softgpu.so" RINGATTN_SOFTWARE_GPU=1 \
    RINGATTN_KERNEL_SOURCES="$1" RINGATTN_KERNEL_CACHE="$work/kernel-cache" \
    timeout 1200 dotnet test tests/RingAttention.Cuda.Tests -c Release --no-build \
    --filter "FullyQualifiedName~GpuTests+Kernels|FullyQualifiedName~FullyMaskedRowsTests|FullyQualifiedName~StateContinuationTests" >"$2" 2>&1
}

# Which tests failed, and the first failure's message (shortened).
reason() {
  python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
tests = sorted({re.sub(r"\(.*", "", name).split(".")[-1] for name in re.findall(r"^\s*Failed (\S+)", text, re.M)})
message = re.search(r"Error Message:\s*\n\s*(.+)", text)
detail = re.sub(r"\s+", " ", message.group(1)) if message else "no message"
detail = detail[detail.find("CUDA_ERROR_"):] if "CUDA_ERROR_" in detail else detail  # the emulator's finding, not the call
detail = detail[:200]
print(f"{', '.join(tests) or 'the test run'} failed: {detail}")
PY
}

# Every mutant is made before anything runs, so a stale list fails at once.
names=()
for entry in "${mutants[@]}"; do
  name="${entry%%@@*}"
  if [[ $# -gt 0 ]] && [[ ! " $* " == *" $name "* ]]; then continue; fi
  mkdir -p "$work/$name"
  cp "$work/unmutated/"* "$work/$name/"
  if ! python3 - "$work/$name" "$entry" <<'PY'
import sys
directory, entry = sys.argv[1:]
name, file, text, replacement = entry.split("@@")
path = f"{directory}/{file}"
source = open(path, encoding="utf-8").read()
if source.count(text) != 1:
    sys.exit(f"MUTANT {name}: its text occurs {source.count(text)} times in kernels/{file}, not once (update the list)")
open(path, "w", encoding="utf-8").write(source.replace(text, replacement, 1))
PY
  then
    exit 1
  fi
  names+=("$name")
done

if ! run_test "$work/unmutated" "$work/baseline.log"; then
  echo "the unmutated kernels fail the test: see below"; tail -40 "$work/baseline.log"; exit 1
fi
echo "baseline (unmutated kernels): passes"

caught=0; total=0; survivors=()
for name in "${names[@]}"; do
  total=$((total + 1))
  if run_test "$work/$name" "$work/$name.log"; then
    survivors+=("$name"); echo "survived  $name"
  elif grep -q "NvrtcException" "$work/$name.log"; then
    survivors+=("$name"); echo "INVALID   $name: the mutated kernels do not compile (a mutant must build to count)"
  else
    caught=$((caught + 1))
    echo "caught    $name: $(reason "$work/$name.log")"
  fi
done
echo "mutation check: $caught of $total injected kernel bugs caught"
[[ ${#survivors[@]} -eq 0 ]]
