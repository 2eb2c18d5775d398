namespace RingAttention.Ring;

/// <summary>The ring's neighbour arithmetic, in one place: a rank sends to the next rank and receives from the previous one.</summary>
public static class RingNeighbours
{
    /// <summary>The rank <paramref name="rank"/> sends to: rank + 1, wrapping.</summary>
    public static int Next(int rank, int size) => (rank + 1) % size;

    /// <summary>The rank <paramref name="rank"/> receives from: rank − 1, wrapping.</summary>
    public static int Previous(int rank, int size) => (rank - 1 + size) % size;
}
