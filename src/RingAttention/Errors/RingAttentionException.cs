namespace RingAttention;

/// <summary>
/// Base of every failure the runtime reports on purpose. Its three kinds map once to exit codes in the CLI: bad user
/// input (<see cref="InvalidInputException"/>), a peer rank that failed or fell silent (<see cref="PeerFailureException"/>)
/// and a runtime failure on this rank (<see cref="RuntimeFailureException"/>). Anything else that escapes is an
/// internal error: a bug, reported as such.
/// </summary>
public abstract class RingAttentionException : Exception
{
    /// <summary>Creates the exception with its message and the exception that caused it, if any.</summary>
    protected RingAttentionException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
