namespace RingAttention.Ring;

/// <summary>
/// How long a transport waits for a peer, and the one error for a peer that did not answer in time. Every
/// transport validates its timeout and reports a silent peer through here, so messages read alike everywhere.
/// </summary>
public static class TransportTimeouts
{
    /// <summary>The wait an emulated ring allows when none is given.</summary>
    public static TimeSpan Default { get; } = TimeSpan.FromSeconds(60);

    /// <summary>Returns <paramref name="timeout"/> when it is positive or infinite; throws naming the argument otherwise.</summary>
    public static TimeSpan Validate(TimeSpan timeout, string name = "timeout") =>
        timeout > TimeSpan.Zero || timeout == Timeout.InfiniteTimeSpan ? timeout
            : throw new ArgumentOutOfRangeException(name, $"{name}: expected a positive time or Timeout.InfiniteTimeSpan, actual {timeout}.");

    /// <summary>
    /// The failure of rank <paramref name="rank"/> waiting in <paramref name="operation"/> (e.g. "step 3") because
    /// <paramref name="peer"/> did not do <paramref name="awaited"/> (e.g. "send its K/V block") within <paramref name="timeout"/>.
    /// </summary>
    public static PeerFailureException PeerDidNotAnswer(int rank, string operation, int peer, string awaited, TimeSpan timeout, Exception? inner = null) =>
        new(peer, $"rank {rank}, {operation}: rank {peer} did not {awaited} within {Seconds(timeout)}", inner);

    /// <summary>A timeout as the messages print it.</summary>
    public static string Seconds(TimeSpan timeout) =>
        timeout == Timeout.InfiniteTimeSpan ? "an unlimited time" : timeout.TotalSeconds >= 1 ? $"{timeout.TotalSeconds:F0} s" : $"{timeout.TotalMilliseconds:F0} ms";
}
