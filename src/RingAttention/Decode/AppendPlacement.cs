namespace RingAttention.Decode;

/// <summary>
/// Which rank keeps each token appended after the prefill: round robin by blocks of <see cref="BlockSize"/> tokens
/// (TensorRT-LLM Helix's scheme). The owner is a pure function of the global position, so no cached token ever
/// moves, a rank's appended tokens come in whole blocks, and the ranks' appended counts differ by at most one block.
/// </summary>
public sealed class AppendPlacement
{
    /// <summary>Placement for tokens appended after a prefill of <paramref name="prefillLength"/> tokens over <paramref name="ranks"/> ranks.</summary>
    public AppendPlacement(int ranks, int blockSize, int prefillLength)
    {
        Guard.AtLeast(ranks, 1);
        Guard.AtLeast(blockSize, 1);
        Guard.AtLeast(prefillLength, 0);
        (Ranks, BlockSize, PrefillLength) = (ranks, blockSize, prefillLength);
    }

    /// <summary>Ranks P.</summary>
    public int Ranks { get; }

    /// <summary>Tokens per block B: consecutive appended tokens that go to the same rank.</summary>
    public int BlockSize { get; }

    /// <summary>Global position of the first appended token (the prefill's length).</summary>
    public int PrefillLength { get; }

    /// <summary>The rank that keeps the appended token at global position <paramref name="position"/>.</summary>
    public int RankOf(int position)
    {
        Guard.AtLeast(position, PrefillLength);
        return (int)((position - (long)PrefillLength) / BlockSize % Ranks);
    }

    /// <summary>How many of the first <paramref name="appended"/> appended tokens rank <paramref name="rank"/> keeps.</summary>
    public int AppendedOn(int rank, int appended)
    {
        Guard.InRange(rank, 0, Ranks - 1);
        Guard.AtLeast(appended, 0);
        long round = (long)BlockSize * Ranks;
        long whole = appended / round * BlockSize;
        long rest = appended % round - (long)rank * BlockSize;
        return (int)(whole + Math.Clamp(rest, 0, BlockSize));
    }
}
