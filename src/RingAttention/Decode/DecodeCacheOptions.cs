namespace RingAttention.Decode;

/// <summary>How a rank's KV cache is placed and sized. Immutable; every rank of a job must use the same values.</summary>
public sealed class DecodeCacheOptions
{
    /// <summary>Appended tokens per placement block (see <see cref="AppendPlacement"/>). At least 1; default 64.</summary>
    public int BlockSize { get; init; } = 64;

    /// <summary>
    /// Rows each rank preallocates beyond its prefill shard, so the first appends need no reallocation.
    /// At least 0; default 256.
    /// </summary>
    public int Headroom { get; init; } = 256;

    /// <summary>
    /// The most tokens one rank's cache may hold (per batch entry). An append beyond it fails with an
    /// <see cref="InvalidInputException"/> naming <c>MaxTokensPerRank</c>; null means no limit but memory.
    /// </summary>
    public int? MaxTokensPerRank { get; init; }

    /// <summary>CPU threads of the decode kernel; null means all cores.</summary>
    public int? Threads { get; init; }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first field that is out of range.</summary>
    public void Validate()
    {
        Guard.AtLeast(BlockSize, 1);
        Guard.AtLeast(Headroom, 0);
        Guard.AtLeast(MaxTokensPerRank ?? 1, 1, nameof(MaxTokensPerRank));
        Guard.AtLeast(Threads ?? 1, 1, nameof(Threads));
    }
}
