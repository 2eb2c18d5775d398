// Unit tests of the software GPU: each ptx.cuh wrapper's host implementation against a scalar definition written
// from the PTX ISA independently of it (matrices indexed by row and column, conversions by exhaustive search or by
// the compiler's own _Float16), and the engine's detectors against small kernels that break the rules on purpose.
// Built and run by build.sh; prints one line per check and exits non-zero on the first failure.
#include "softgpu/cuda_prelude.h"
#include "softgpu/ptx_host.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
    if (!ok) ++failures;
}

std::string run(softgpu::KernelThunk kernel, void** parameters, unsigned threads, unsigned shared_bytes,
                uint64_t seed = 0, unsigned blocks = 1) {
    softgpu::LaunchConfig config{{blocks, 1, 1}, {threads, 1, 1}, shared_bytes, seed};
    char error[1024] = "";
    uintptr_t fault = 0;
    int status = softgpu::launch(kernel, parameters, config, error, sizeof error, &fault);
    return status == 0 ? std::string() : std::string(error);
}

// --- scalar definitions -------------------------------------------------------------------------------------------

// The fp16 value nearest to x, ties to even, by the compiler's _Float16 (an independent implementation).
unsigned short reference_half(float x) {
    _Float16 h = (_Float16)x;
    unsigned short bits;
    std::memcpy(&bits, &h, 2);
    if (std::isnan(x)) return 0x7fff;
    return bits;
}
float reference_half_value(unsigned short bits) {
    _Float16 h;
    std::memcpy(&h, &bits, 2);
    return (float)h;
}
// The bf16 nearest to x, ties to even, by comparing the two neighbours in double.
unsigned short reference_bfloat16(float x) {
    if (std::isnan(x)) return 0x7fff;
    uint32_t bits;
    std::memcpy(&bits, &x, 4);
    const uint32_t down = bits & 0xffff0000u, up = down + 0x10000u;
    float fdown, fup;
    std::memcpy(&fdown, &down, 4);
    std::memcpy(&fup, &up, 4);
    if (std::isinf(x)) return (unsigned short)(bits >> 16);
    // Above the largest bf16 the next value up is infinity, standing for 2^128 in the rounding.
    const double dup = (up & 0x7fffffffu) == 0x7f800000u ? std::copysign(std::ldexp(1.0, 128), x) : (double)fup;
    const double dd = std::fabs((double)x - (double)fdown), du = std::fabs(dup - (double)x);
    if (dd < du) return (unsigned short)(down >> 16);
    if (du < dd) return (unsigned short)(up >> 16);
    return (unsigned short)(((down >> 16) & 1) ? (up >> 16) : (down >> 16));
}
float bf16_value(unsigned short bits) { return softgpu::bits_float((uint32_t)bits << 16); }

// --- kernels under test ---------------------------------------------------------------------------------------------

struct LdmatrixArgs {
    const unsigned short* matrix;  // [32 rows][8 columns] in global memory: matrices m = rows 8m..8m+7
    unsigned* out;                 // [32 lanes][4 registers]
    bool transpose;
};
void ldmatrix_kernel(void** p) {
    const auto& args = *static_cast<LdmatrixArgs*>(p[0]);
    RA_DYNAMIC_SHARED(unsigned short, tile, 16);
    const int lane = threadIdx.x;
    // Row r of the source is stored at shared row (r * 5) % 32, so the row addresses are not consecutive.
    const int stored = (lane * 5) % 32;
    ra_cp_async_16(ra_shared_address(tile + stored * 8), args.matrix + lane * 8, true);
    ra_cp_async_commit();
    ra_cp_async_wait_all();
    __syncthreads();
    unsigned r[4];
    const unsigned address = ra_shared_address(tile + stored * 8);
    if (args.transpose) {
        ra_ldmatrix_x4_trans(r, address);
    } else {
        ra_ldmatrix_x4(r, address);
    }
    for (int i = 0; i < 4; ++i) args.out[lane * 4 + i] = r[i];
}

struct MmaArgs {
    const unsigned short* a;  // [16][16] row-major
    const unsigned short* b;  // [16][8] row-major (k, n)
    const float* c;           // [16][8]
    float* d;                 // [16][8]
    bool bf16;
};
void mma_kernel(void** p) {
    const auto& args = *static_cast<MmaArgs*>(p[0]);
    const int lane = threadIdx.x, g = lane / 4, t = lane % 4;
    auto pair = [](unsigned short low, unsigned short high) { return (unsigned)low | ((unsigned)high << 16); };
    unsigned a[4] = {pair(args.a[g * 16 + 2 * t], args.a[g * 16 + 2 * t + 1]),
                     pair(args.a[(g + 8) * 16 + 2 * t], args.a[(g + 8) * 16 + 2 * t + 1]),
                     pair(args.a[g * 16 + 2 * t + 8], args.a[g * 16 + 2 * t + 9]),
                     pair(args.a[(g + 8) * 16 + 2 * t + 8], args.a[(g + 8) * 16 + 2 * t + 9])};
    unsigned b0 = pair(args.b[(2 * t) * 8 + g], args.b[(2 * t + 1) * 8 + g]);
    unsigned b1 = pair(args.b[(2 * t + 8) * 8 + g], args.b[(2 * t + 9) * 8 + g]);
    float d[4] = {args.c[g * 8 + 2 * t], args.c[g * 8 + 2 * t + 1], args.c[(g + 8) * 8 + 2 * t],
                  args.c[(g + 8) * 8 + 2 * t + 1]};
    if (args.bf16) {
        ra_mma_m16n8k16_bf16(d, a, b0, b1);
    } else {
        ra_mma_m16n8k16_f16(d, a, b0, b1);
    }
    args.d[g * 8 + 2 * t] = d[0];
    args.d[g * 8 + 2 * t + 1] = d[1];
    args.d[(g + 8) * 8 + 2 * t] = d[2];
    args.d[(g + 8) * 8 + 2 * t + 1] = d[3];
}

struct ShuffleArgs {
    float* out;  // [64]: xor results then indexed results
};
void shuffle_kernel(void** p) {
    const auto& args = *static_cast<ShuffleArgs*>(p[0]);
    const int lane = threadIdx.x;
    args.out[lane] = ra_shfl_xor((float)(100 + lane), 5);
    args.out[32 + lane] = ra_shfl((float)(200 + lane), (lane * 7) % 32);
}

// cp.async: a partial copy zero-fills, the data is not in shared memory before wait_group.
struct CopyArgs {
    const unsigned char* source;
    unsigned char* seen_before_wait;
    unsigned char* seen_after_wait;
};
void copy_kernel(void** p) {
    const auto& args = *static_cast<CopyArgs*>(p[0]);
    RA_DYNAMIC_SHARED(unsigned char, tile, 16);
    if (threadIdx.x == 0) {
        ::softgpu::cp_async_16(ra_shared_address(tile), args.source, 6);
        ra_cp_async_commit();
        std::memcpy(args.seen_before_wait, tile, 16);  // a raw peek, outside the race detector
        ra_cp_async_wait_all();
        std::memcpy(args.seen_after_wait, tile, 16);
    }
}

// Rule breakers (each must end the launch with the named error).
struct TileArgs {
    const unsigned short* global;
};
void read_without_wait(void** p) {
    const auto& args = *static_cast<TileArgs*>(p[0]);
    RA_DYNAMIC_SHARED(unsigned short, tile, 16);
    const int lane = threadIdx.x;
    ra_cp_async_16(ra_shared_address(tile + lane * 8), args.global + lane * 8, true);
    ra_cp_async_commit();
    __syncthreads();
    unsigned r[4];
    ra_ldmatrix_x4(r, ra_shared_address(tile + lane * 8));
}
void read_without_commit(void** p) {
    const auto& args = *static_cast<TileArgs*>(p[0]);
    RA_DYNAMIC_SHARED(unsigned short, tile, 16);
    const int lane = threadIdx.x;
    ra_cp_async_16(ra_shared_address(tile + lane * 8), args.global + lane * 8, true);
    ra_cp_async_wait_all();
    __syncthreads();
    unsigned r[4];
    ra_ldmatrix_x4(r, ra_shared_address(tile + lane * 8));
    ra_cp_async_commit();
    ra_cp_async_wait_all();
}
void read_without_barrier(void** p) {
    const auto& args = *static_cast<TileArgs*>(p[0]);
    RA_DYNAMIC_SHARED(unsigned short, tile, 16);
    const int lane = threadIdx.x;
    // Lane l copies row l but reads (through ldmatrix) the rows other lanes copied: a barrier is needed.
    ra_cp_async_16(ra_shared_address(tile + lane * 8), args.global + lane * 8, true);
    ra_cp_async_commit();
    ra_cp_async_wait_all();
    unsigned r[4];
    ra_ldmatrix_x4(r, ra_shared_address(tile + ((lane + 1) % 32) * 8));
}
void overwrite_while_read(void** p) {
    const auto& args = *static_cast<TileArgs*>(p[0]);
    RA_DYNAMIC_SHARED(unsigned short, tile, 16);
    const int thread = threadIdx.x, lane = thread % 32;
    if (thread < 32) {
        ra_cp_async_16(ra_shared_address(tile + lane * 8), args.global + lane * 8, true);
        ra_cp_async_commit();
        ra_cp_async_wait_all();
    }
    __syncthreads();
    unsigned r[4];
    ra_ldmatrix_x4(r, ra_shared_address(tile + lane * 8));  // both warps read the tile
    // Warp 0 refills it with no barrier after warp 1's reads.
    if (thread < 32) {
        ra_cp_async_16(ra_shared_address(tile + lane * 8), args.global + 256 + lane * 8, true);
        ra_cp_async_commit();
        ra_cp_async_wait_all();
    }
}
void read_uninitialised(void** p) {
    (void)p;
    RA_DYNAMIC_SHARED(unsigned short, tile, 16);
    unsigned r[4];
    ra_ldmatrix_x4(r, ra_shared_address(tile + threadIdx.x * 8));
}
void divergent_collective(void** p) {
    (void)p;
    if (threadIdx.x < 16) {
        ra_shfl_xor(1.0f, 1);
    } else {
        ra_shfl(1.0f, 0);
    }
}
void exited_lanes(void** p) {
    (void)p;
    if (threadIdx.x == 3) return;
    ra_shfl_xor(1.0f, 1);
}
void barrier_in_branch(void** p) {
    (void)p;
    // Half of warp 1 waits at the barrier, the other half at a shuffle that needs the first half: neither completes.
    if (threadIdx.x < 48) {
        __syncthreads();
    } else {
        ra_shfl_xor(1.0f, 1);
    }
}
struct GlobalArgs {
    const float* data;
    int count;
    float* out;
};
void read_past_end(void** p) {
    const auto& args = *static_cast<GlobalArgs*>(p[0]);
    args.out[threadIdx.x] = args.data[args.count + threadIdx.x];  // past the last element, onto the guard page
}

}  // namespace

int main() {
    std::mt19937 random(1234);

    // Conversions against their scalar definitions.
    {
        int bad = 0;
        for (uint64_t step = 0; step <= 0xffffffffull; step += 0x1235u) {
            const uint32_t bits = (uint32_t)step;
            const float x = softgpu::bits_float(bits);
            bad += ra_float_to_half(x) != reference_half(x);
            bad += ra_float_to_bfloat16(x) != reference_bfloat16(x);
        }
        const float ties[] = {1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 65504.0f, 65519.0f, 65520.0f, 0x1p-25f, 0x1.8p-24f, -0.0f};
        for (float x : ties) bad += ra_float_to_half(x) != reference_half(x);
        check(bad == 0, "cvt.rn.f16.f32 and cvt.rn.bf16.f32 match round-to-nearest-even over 900k inputs and the ties");
        int wrong = 0;
        for (uint32_t h = 0; h < 0x10000u; ++h) {
            const float value = ra_half_to_float((unsigned short)h), expected = reference_half_value((unsigned short)h);
            wrong += !(value == expected || (std::isnan(value) && std::isnan(expected)));
        }
        check(wrong == 0, "cvt.f32.f16 is exact for all 65536 fp16 values");
        check(ra_pack_bf16x2(1.0f, -2.0f) == (0x3f80u | (0xc000u << 16)) && ra_pack_f16x2(1.0f, -2.0f) == (0x3c00u | (0xc000u << 16)),
              "cvt.rn.{bf16,f16}x2 puts the first (low) operand in the lower half");
        check(ra_exp2_approx(3.0f) == 8.0f && ra_exp2_approx(-INFINITY) == 0.0f && std::isnan(ra_exp2_approx(NAN)) &&
                  ra_exp2_approx(-130.0f) == 0.0f && ra_exp2_approx(0x1p-140f) == 1.0f,
              "ex2.approx.ftz: 2^3 = 8, 2^-inf = 0, NaN stays NaN, subnormal results and inputs flush to zero");
    }

    // ldmatrix x4 and x4.trans.
    for (int transpose = 0; transpose < 2; ++transpose) {
        unsigned short matrix[32 * 8];
        for (int i = 0; i < 256; ++i) matrix[i] = (unsigned short)(random() & 0xffff);
        unsigned out[128] = {};
        LdmatrixArgs args{matrix, out, transpose != 0};
        void* parameters[] = {&args};
        std::string error = run(ldmatrix_kernel, parameters, 32, 32 * 16);
        int bad = 0;
        for (int lane = 0; lane < 32; ++lane) {
            for (int m = 0; m < 4; ++m) {
                // Matrix m is source rows 8m..8m+7; lane l holds (row l/4, columns 2(l%4), +1), or the transpose.
                const int r = lane / 4, c = 2 * (lane % 4);
                const unsigned short low = transpose ? matrix[(8 * m + c) * 8 + r] : matrix[(8 * m + r) * 8 + c];
                const unsigned short high = transpose ? matrix[(8 * m + c + 1) * 8 + r] : matrix[(8 * m + r) * 8 + c + 1];
                bad += out[lane * 4 + m] != ((unsigned)low | ((unsigned)high << 16));
            }
        }
        check(error.empty() && bad == 0, transpose ? "ldmatrix.x4.trans delivers the transposed 8x8 matrices" : "ldmatrix.x4 delivers 4 8x8 matrices by the lanes' row addresses");
    }

    // mma.m16n8k16 against a row-by-column product.
    for (int bf16 = 0; bf16 < 2; ++bf16) {
        unsigned short a[256], b[128];
        float c[128], d[128], expected[128];
        std::uniform_real_distribution<float> uniform(-2.0f, 2.0f);
        auto encode = [&](float x) { return bf16 ? reference_bfloat16(x) : reference_half(x); };
        auto decode = [&](unsigned short x) { return bf16 ? bf16_value(x) : reference_half_value(x); };
        for (auto& x : a) x = encode(uniform(random));
        for (auto& x : b) x = encode(uniform(random));
        for (auto& x : c) x = uniform(random);
        for (int i = 0; i < 16; ++i) {
            for (int j = 0; j < 8; ++j) {
                double sum = c[i * 8 + j];
                for (int k = 0; k < 16; ++k) sum += (double)decode(a[i * 16 + k]) * decode(b[k * 8 + j]);
                expected[i * 8 + j] = (float)sum;
            }
        }
        MmaArgs args{a, b, c, d, bf16 != 0};
        void* parameters[] = {&args};
        std::string error = run(mma_kernel, parameters, 32, 0);
        double worst = 0;
        for (int i = 0; i < 128; ++i) worst = std::max(worst, (double)std::fabs(d[i] - expected[i]));
        check(error.empty() && worst < 1e-5, std::string("mma.m16n8k16 ") + (bf16 ? "bf16" : "f16") + ": D = A·B + C by the fragment tables (max error " + std::to_string(worst) + ")");
    }

    {
        float out[64];
        ShuffleArgs args{out};
        void* parameters[] = {&args};
        std::string error = run(shuffle_kernel, parameters, 32, 0);
        int bad = 0;
        for (int l = 0; l < 32; ++l) {
            bad += out[l] != (float)(100 + (l ^ 5));
            bad += out[32 + l] != (float)(200 + (l * 7) % 32);
        }
        check(error.empty() && bad == 0, "shfl.bfly and shfl.idx read the named lane's value");
    }

    {
        alignas(16) unsigned char source[16];
        for (int i = 0; i < 16; ++i) source[i] = (unsigned char)(i + 1);
        unsigned char before[16], after[16];
        CopyArgs args{source, before, after};
        void* parameters[] = {&args};
        std::string error = run(copy_kernel, parameters, 32, 16);
        bool before_is_garbage = std::memcmp(before, source, 6) != 0;
        bool after_ok = std::memcmp(after, source, 6) == 0;
        for (int i = 6; i < 16; ++i) after_ok = after_ok && after[i] == 0;
        check(error.empty() && before_is_garbage && after_ok, "cp.async lands at wait_group, copies src-size bytes and zero-fills the rest");
    }

    // Detectors.
    alignas(16) static unsigned short global[512];
    TileArgs tile{global};
    void* tile_parameters[] = {&tile};
    auto expect_error = [&](softgpu::KernelThunk kernel, unsigned threads, const char* needle, const char* what) {
        std::string error = run(kernel, tile_parameters, threads, 32 * 16);
        check(error.find(needle) != std::string::npos, std::string(what) + " -> \"" + error + "\"");
    };
    expect_error(read_without_wait, 32, "has not landed", "a read of cp.async data before wait_group is reported");
    expect_error(read_without_commit, 32, "has not landed", "a wait_group without the commit lands nothing");
    expect_error(read_without_barrier, 32, "read-after-write race", "a read of another thread's landed data without __syncthreads is a race");
    expect_error(overwrite_while_read, 64, "race:", "refilling a tile other warps read, without __syncthreads, is a race");
    expect_error(read_uninitialised, 32, "nothing has written", "a read of never-written shared memory is reported");
    expect_error(divergent_collective, 32, "divergent warp collective", "lanes at different collectives are reported");
    expect_error(exited_lanes, 32, "exited", "a full-mask shuffle after a lane exited is reported");
    expect_error(barrier_in_branch, 64, "deadlock", "a schedule that cannot complete is reported as a deadlock");

    {
        // A tensor that ends exactly at a guard page: reading one element past it is caught, not silently read.
        const size_t page = (size_t)getpagesize();
        unsigned char* region = (unsigned char*)mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        mprotect(region + page, page, PROT_NONE);
        const int count = 64;
        const float* data = (const float*)(region + page) - count;
        float out[32];
        GlobalArgs args{data, count, out};
        void* parameters[] = {&args};
        std::string error = run(read_past_end, parameters, 32, 0);
        check(error.find("unmapped address") != std::string::npos, "a global read past the end of a tensor hits the guard page -> \"" + error + "\"");
        munmap(region, 2 * page);
    }

    {
        // Random schedules: the ldmatrix test again under several seeds.
        int bad = 0;
        for (uint64_t seed = 1; seed <= 5; ++seed) {
            unsigned short matrix[256];
            for (int i = 0; i < 256; ++i) matrix[i] = (unsigned short)i;
            unsigned out[128];
            LdmatrixArgs args{matrix, out, false};
            void* parameters[] = {&args};
            bad += !run(ldmatrix_kernel, parameters, 32, 32 * 16, seed).empty();
            bad += out[5 * 4 + 2] != ((unsigned)matrix[(16 + 1) * 8 + 2] | ((unsigned)matrix[(16 + 1) * 8 + 3] << 16));
        }
        check(bad == 0, "random thread schedules give the same ldmatrix results");
    }

    std::printf("%s: %d failure(s)\n", failures == 0 ? "PASS" : "FAIL", failures);
    return failures == 0 ? 0 : 1;
}
