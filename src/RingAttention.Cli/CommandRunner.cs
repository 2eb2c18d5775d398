namespace RingAttention.Cli;

/// <summary>Runs a command and turns the exception that ends it into its exit code (<see cref="ExitCodes.For"/>) and one clear line on stderr.</summary>
internal static class CommandRunner
{
    /// <summary>Runs <paramref name="command"/>; <paramref name="verbose"/> adds the stack trace of an internal error.</summary>
    public static int Guarded(Func<int> command, bool verbose = false)
    {
        try
        {
            return command();
        }
        catch (Exception e)
        {
            int exit = ExitCodes.For(e);
            string message = TerminalText.Escape(e.Message);
            Console.Error.WriteLine(exit == ExitCodes.InternalError
                ? $"ringattn: internal error: {e.GetType().Name}: {message}" + (verbose ? Environment.NewLine + e : " (--verbose shows the stack trace)")
                : $"ringattn: {message}");
            return exit;
        }
    }

    /// <summary>The message without the " (Parameter 'x')" suffix .NET appends.</summary>
    public static string PlainMessage(ArgumentException e)
    {
        int suffix = e.ParamName is null ? -1 : e.Message.LastIndexOf($" (Parameter '{e.ParamName}')", StringComparison.Ordinal);
        return suffix < 0 ? e.Message : e.Message[..suffix];
    }
}
