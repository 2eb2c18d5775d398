using RingAttention.Kernels;

namespace RingAttention.Decode;

/// <summary>
/// A backend's split-KV decode kernel for one rank (<see cref="IAttentionBackend.CreateDecodeKernel"/>): the step's
/// new query rows against the rank's <see cref="KvCacheShard"/>, producing the rank's normalised partial result in
/// the backend's memory, where the merge's collective reads it. A kernel that keeps its own copy of the cache (a
/// GPU's) brings it up to date with the shard on every call, moving only the rows appended since the last one.
/// </summary>
internal interface IDecodeKernel : IDisposable
{
    /// <summary>
    /// Computes the shard's partial for <paramref name="query"/> (fp32 [batch, T, heads, headDim], global positions
    /// <paramref name="queryPositions"/> [T], causal by position when the options say so) into
    /// <paramref name="target"/> at <paramref name="byteOffset"/>: fp32 O [batch, T, heads, headDim], then fp32 LSE
    /// [batch, T, heads] right after it. Rows that see no key get O = 0 and LSE = −inf. May return before the work is
    /// done (a GPU stream); the backend's <see cref="IAttentionBackend.Synchronize"/> and the transports' collectives
    /// are ordered after it.
    /// </summary>
    void Run(AttentionOptions options, KvCacheShard cache, ReadOnlySpan<float> query, ReadOnlySpan<int> queryPositions, BackendBuffer target, long byteOffset);
}
