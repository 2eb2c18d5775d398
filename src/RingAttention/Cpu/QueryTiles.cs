namespace RingAttention.Cpu;

/// <summary>
/// How a call's query rows are cut into tiles, the work items the threads take in order (guided scheduling):
/// full <see cref="CpuFlashKernel.BlockM"/>-row tiles while plenty of rows remain, then tiles that shrink with
/// the remaining work down to <see cref="MinRows"/>, so the threads finish within a small tile of each other
/// instead of one whole tile apart. Tiles run from the last row backwards: under a causal mask later rows see
/// more keys, so the heaviest tiles go first and the light ones fill the end.
/// </summary>
internal static class QueryTiles
{
    /// <summary>The smallest tile: two 6-row register blocks.</summary>
    public const int MinRows = 12;

    /// <summary>A tile is sized to the remaining rows over this many tiles per thread (capped at BlockM).</summary>
    private const int TilesPerThreadAhead = 2;

    /// <summary>
    /// Fills <paramref name="starts"/> with the first row of each tile, tile i covering [starts[i], starts[i − 1])
    /// with starts[−1] = <paramref name="rows"/>; grows the array when needed and returns the tile count.
    /// </summary>
    public static int Plan(int rows, int threads, int rowBlock, ref int[] starts)
    {
        int count = 0;
        int end = rows;
        while (end > 0)
        {
            // One thread has nobody to wait for: full tiles to the end.
            int size = threads == 1 ? CpuFlashKernel.BlockM : (end + TilesPerThreadAhead * threads - 1) / (TilesPerThreadAhead * threads);
            size = Math.Clamp((size + rowBlock - 1) / rowBlock * rowBlock, MinRows, CpuFlashKernel.BlockM);
            int start = Math.Max(0, end - size);
            if (count == starts.Length)
            {
                Array.Resize(ref starts, Math.Max(16, 2 * starts.Length));
            }
            starts[count++] = start;
            end = start;
        }
        return count;
    }
}
