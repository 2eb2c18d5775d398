// Run-time arguments of the kernels, field for field the C# structs in
// src/RingAttention/Kernels/FlashForwardParams.cs (same names, same order, same sizes; a test compiles
// static_asserts of every offset generated from the C# layout). Passed to the kernels by value.
#pragma once

// The forward block kernel's arguments: pointers already offset to the first query/key row of the call,
// element strides, global-position progressions for the causal mask, and the running fp32 state it continues
// (OAccum unnormalised, RowMax in log2 units, RowSum relative to RowMax).
struct FlashFwdParams {
    const void* Q;
    const void* K;
    const void* V;
    float* OAccum;
    float* RowMax;
    float* RowSum;

    long long QBatchStride;
    long long QRowStride;
    long long QHeadStride;
    long long KBatchStride;
    long long KRowStride;
    long long KHeadStride;
    long long VBatchStride;
    long long VRowStride;
    long long VHeadStride;
    long long OBatchStride;
    long long ORowStride;
    long long OHeadStride;
    long long StatBatchStride;
    long long StatHeadStride;

    int Batch;
    int Heads;
    int KvHeads;
    int HeadDim;
    int SeqLenQ;
    int SeqLenK;
    int QPosStart;
    int QPosStride;
    int KPosStart;
    int KPosStride;
    float ScaleSoftmax;
    float ScaleSoftmaxLog2;
    int IsCausal;
    int ElementType;
};

// The finalize step's arguments: O = OAccum / RowSum in the storage type, LSE = RowMax·ln 2 + ln RowSum.
// OAccum and O are contiguous [batch, seq, heads, headDim]; the statistics and LSE [batch, heads, seq].
struct FlashFinalizeParams {
    const float* OAccum;
    const float* RowMax;
    const float* RowSum;
    void* O;
    float* Lse;
    int Batch;
    int Heads;
    int HeadDim;
    int SeqLenQ;
    int ElementType;
    int Reserved;
};

// ElementType values (RingAttention.ElementType).
#define RA_FLOAT32 0
#define RA_FLOAT16 1
#define RA_BFLOAT16 2
