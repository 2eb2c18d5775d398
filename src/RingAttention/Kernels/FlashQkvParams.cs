using System.Runtime.InteropServices;

namespace RingAttention.Kernels;

/// <summary>
/// What every attention kernel reads of Q, K and V (flash-attention's <c>Qkv_params</c>): pointers already offset
/// to the first query/key row of the call, element strides, and the head counts. The forward arguments
/// (<see cref="FlashForwardParams"/>) start with it; backward and decode arguments will too. Mirrored field for field
/// by <c>FlashQkvParams</c> in <c>kernels/flash_params.cuh</c>.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FlashQkvParams
{
    /// <summary>Q, storage-type elements.</summary>
    public nint Q;
    /// <summary>K, storage-type elements.</summary>
    public nint K;
    /// <summary>V, storage-type elements.</summary>
    public nint V;

    /// <summary>Q stride between batches.</summary>
    public long QBatchStride;
    /// <summary>Q stride between rows.</summary>
    public long QRowStride;
    /// <summary>Q stride between heads.</summary>
    public long QHeadStride;
    /// <summary>K stride between batches.</summary>
    public long KBatchStride;
    /// <summary>K stride between rows.</summary>
    public long KRowStride;
    /// <summary>K stride between heads.</summary>
    public long KHeadStride;
    /// <summary>V stride between batches.</summary>
    public long VBatchStride;
    /// <summary>V stride between rows.</summary>
    public long VRowStride;
    /// <summary>V stride between heads.</summary>
    public long VHeadStride;

    /// <summary>Batch size.</summary>
    public int Batch;
    /// <summary>Query heads.</summary>
    public int Heads;
    /// <summary>Key/value heads; <see cref="Heads"/> is a multiple of it.</summary>
    public int KvHeads;
    /// <summary>Head dimension, 1 to 256.</summary>
    public int HeadDim;
}
