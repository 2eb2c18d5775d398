// Run-time arguments of the kernels, field for field the C# structs in
// src/RingAttention/Kernels/FlashQkvParams.cs and FlashForwardParams.cs (same names, same order, same sizes; C#
// nests the QKV part as a first field where C++ derives from it; a test compares every offset NVRTC computes with
// the C# layout). Passed to the kernels by value.
#pragma once

// What every attention kernel reads of Q, K and V (flash-attention's Qkv_params): pointers already offset to the
// first query/key row of the call, element strides, and the head counts. Forward extends it here; backward and
// decode structs extend it the same way.
struct FlashQkvParams {
    const void* Q;
    const void* K;
    const void* V;

    long long QBatchStride;
    long long QRowStride;
    long long QHeadStride;
    long long KBatchStride;
    long long KRowStride;
    long long KHeadStride;
    long long VBatchStride;
    long long VRowStride;
    long long VHeadStride;

    int Batch;
    int Heads;
    int KvHeads;
    int HeadDim;
};

// The forward block kernel's arguments (flash-attention's Flash_fwd_params): the QKV part, the running fp32 state
// it continues (OAccum unnormalised, RowMax in log2 units, RowSum relative to RowMax), and global-position
// progressions for the causal mask.
struct FlashFwdParams : FlashQkvParams {
    float* OAccum;
    float* RowMax;
    float* RowSum;

    long long OBatchStride;
    long long ORowStride;
    long long OHeadStride;
    long long StatBatchStride;
    long long StatHeadStride;

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

// The split-KV decode kernel's and its combine's arguments (flash-attention's decode params): the QKV part, then
// what decode adds. Q is fp32 [batch, SeqLenQ, heads, headDim] (the step's few new query rows, widened on the
// host); K and V are one rank's cache in the storage type, [batch, kvHeads, capacity, headDim] through the strides.
// Every query and cache row carries its global position (QPositions [SeqLenQ], KPositions [SeqLenK]): a cache shard
// holds non-contiguous positions. The decode kernel writes one fp32 partial state per (row, split) — row =
// (batch · SeqLenQ + t) · Heads + head — into PartialO [rows][Splits][HeadDim] (unnormalised), PartialMax (log2
// units) and PartialSum [rows][Splits]; the combine kernel merges the splits in split order into O (fp32, [rows]
// [HeadDim], normalised) and Lse (natural log, [rows]).
struct FlashDecodeParams : FlashQkvParams {
    const int* QPositions;
    const int* KPositions;
    float* PartialO;
    float* PartialMax;
    float* PartialSum;
    float* O;
    float* Lse;

    int SeqLenQ;
    int SeqLenK;
    int Splits;
    int KeysPerSplit;
    float ScaleSoftmax;
    float ScaleSoftmaxLog2;
    int IsCausal;
    int ElementType;
};
