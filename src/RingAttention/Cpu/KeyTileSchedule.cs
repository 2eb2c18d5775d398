namespace RingAttention.Cpu;

/// <summary>
/// Which worker of the backward kernel owns which K/V column tile. The assignment is fixed by the tiles' costs and
/// the worker count alone (longest tile first to the least loaded worker, ties to the lower index), never by which
/// thread happens to be faster, so each worker's dQ partial and the order they are summed in, and thus the result,
/// are the same on every run with the same thread count.
/// </summary>
internal sealed class KeyTileSchedule
{
    private int[] _order = [];
    private long[] _load = [];
    private int[] _owner = [];

    /// <summary>Workers of the last plan.</summary>
    public int Workers { get; private set; }

    /// <summary>
    /// Assigns tiles 0..costs.Length−1 (cost = query tiles that see the tile; 0 = nothing to do) to at most
    /// <paramref name="maxWorkers"/> workers.
    /// </summary>
    public void Plan(ReadOnlySpan<int> costs, int maxWorkers)
    {
        int tiles = costs.Length;
        int busy = 0;
        foreach (int cost in costs)
        {
            busy += cost > 0 ? 1 : 0;
        }
        Workers = Math.Max(1, Math.Min(maxWorkers, busy));
        if (_order.Length < tiles)
        {
            _order = new int[tiles];
            _owner = new int[tiles];
        }
        if (_load.Length < Workers)
        {
            _load = new long[Workers];
        }
        Array.Clear(_load, 0, Workers);
        for (int t = 0; t < tiles; t++)
        {
            _order[t] = t;
        }
        var costsCopy = costs.ToArray();
        Array.Sort(_order, 0, tiles, Comparer<int>.Create((a, b) => costsCopy[a] != costsCopy[b] ? costsCopy[b].CompareTo(costsCopy[a]) : a.CompareTo(b)));
        for (int i = 0; i < tiles; i++)
        {
            int tile = _order[i];
            if (costs[tile] == 0)
            {
                _owner[tile] = -1;
                continue;
            }
            int least = 0;
            for (int w = 1; w < Workers; w++)
            {
                least = _load[w] < _load[least] ? w : least;
            }
            _owner[tile] = least;
            _load[least] += costs[tile];
        }
    }

    /// <summary>The worker that owns <paramref name="tile"/>, or −1 when the tile has no work.</summary>
    public int Owner(int tile) => _owner[tile];
}
