namespace RingAttention.Cli;

/// <summary>Turns exceptions into exit codes and one clear message on stderr.</summary>
internal static class CommandRunner
{
    /// <summary>The message without the " (Parameter 'x')" suffix .NET appends.</summary>
    public static string PlainMessage(ArgumentException e)
    {
        int suffix = e.ParamName is null ? -1 : e.Message.LastIndexOf($" (Parameter '{e.ParamName}')", StringComparison.Ordinal);
        return suffix < 0 ? e.Message : e.Message[..suffix];
    }

    public static int Guarded(Func<int> command)
    {
        try
        {
            return command();
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"ringattn: {PlainMessage(e)}");
            return ExitCodes.BadUsage;
        }
        catch (IO.TensorFileException e)
        {
            Console.Error.WriteLine($"ringattn: {e.Message}");
            return ExitCodes.BadUsage;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"ringattn: {e.GetType().Name}: {e.Message}");
            return ExitCodes.Failed;
        }
    }
}
