using RingAttention.Ring;

namespace RingAttention.Planning;

/// <summary>
/// The (query, key) pairs of one <see cref="BlockPair"/> the causal mask leaves visible, counted in closed form
/// (a floor sum) rather than row by row, so the schedule of a million-token ring over thousands of ranks costs
/// O(P²) pairs, not O(N·P) rows. Same rule as <see cref="RingSchedule.VisiblePairs"/>: query at position q sees
/// the run's keys at positions ≤ q.
/// </summary>
public static class VisibleKeyCount
{
    /// <summary>
    /// Visible pairs of <paramref name="pair"/>: all of them when not causal; with a causal sliding
    /// <paramref name="window"/> W, query q sees only keys in (q − W, q]: the keys ≤ q minus the keys ≤ q − W.
    /// </summary>
    public static long Of(BlockPair pair, bool causal, int? window)
    {
        long visible = Of(pair, causal);
        if (!causal || window is not { } w)
        {
            return visible;
        }
        var shifted = pair with { Query = pair.Query with { GlobalStart = pair.Query.GlobalStart - w } };
        return visible - Of(shifted, causal);
    }

    /// <summary>Visible pairs of <paramref name="pair"/>: all of them when not causal.</summary>
    public static long Of(BlockPair pair, bool causal)
    {
        var (query, key) = (pair.Query, pair.Key);
        long queries = query.Count, keys = key.Count;
        if (!causal)
        {
            return queries * keys;
        }
        long q0 = query.GlobalStart, qStride = query.Stride, k0 = key.GlobalStart, kStride = key.Stride;
        // Queries before the first key see nothing; from the one at or past the last key on, all keys.
        long first = Math.Clamp(CeilDiv(k0 - q0, qStride), 0, queries);
        long saturated = Math.Clamp(CeilDiv(key.GlobalLast - q0, qStride), first, queries);
        // Rows first .. saturated−1 see floor((q − k0) / kStride) + 1 keys, q = q0 + i·qStride.
        long partial = saturated - first;
        long offset = q0 - k0 + qStride * first;
        long sum = FloorSum(partial, kStride, qStride, offset) + partial;
        return sum + (queries - saturated) * keys;
    }

    /// <summary>Σ_{i=0}^{n−1} floor((a·i + b) / m) for n, b ≥ 0 and a, m ≥ 1 (the AtCoder Library's floor_sum).</summary>
    internal static long FloorSum(long n, long m, long a, long b)
    {
        long total = 0;
        while (n > 0)
        {
            if (a >= m)
            {
                total += n * (n - 1) / 2 * (a / m);
                a %= m;
            }
            if (b >= m)
            {
                total += n * (b / m);
                b %= m;
            }
            long yMax = a * n + b;
            if (yMax < m)
            {
                break;
            }
            (n, b) = (yMax / m, yMax % m);
            (m, a) = (a, m);
        }
        return total;
    }

    private static long CeilDiv(long x, long d) => x >= 0 ? (x + d - 1) / d : -(-x / d);
}
