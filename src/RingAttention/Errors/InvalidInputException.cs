namespace RingAttention;

/// <summary>
/// The user's input cannot be used: an option, a shape, a file or a value. The message names the argument, what was
/// expected and what was given. Library entry points keep throwing <see cref="ArgumentException"/> for bad arguments,
/// as .NET callers expect; boundaries that read user input (the CLI, file readers) throw this.
/// </summary>
public sealed class InvalidInputException : RingAttentionException
{
    /// <summary>Creates the exception for the argument <paramref name="argument"/>.</summary>
    public InvalidInputException(string argument, string message, Exception? inner = null)
        : base(message, inner)
    {
        Argument = argument;
    }

    /// <summary>The option, file or parameter at fault (for example <c>--seq</c>).</summary>
    public string Argument { get; }
}
