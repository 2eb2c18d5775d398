namespace RingAttention;

/// <summary>
/// This rank could not do its work for a reason outside the user's input and outside the code's own invariants: a
/// device, driver, library or file system failed. The message says which call failed and why.
/// </summary>
public sealed class RuntimeFailureException : RingAttentionException
{
    /// <summary>Creates the exception with its message and cause.</summary>
    public RuntimeFailureException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
