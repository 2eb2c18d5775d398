using CommandLine;

namespace RingAttention.Cli;

/// <summary>The <c>ringattn</c> entry point: parses the verb and its options and returns the exit code.</summary>
internal static class RingAttnCli
{
    public static int Run(string[] args)
    {
        ConsoleSetup.Apply();
        using var parser = new Parser(settings =>
        {
            settings.CaseInsensitiveEnumValues = true;
            settings.HelpWriter = Console.Error;
        });
        return parser.ParseArguments<RunOptions, InfoOptions, SelfTestOptions, BenchGpuOptions, DecodeOptions>(args).MapResult(
            (RunOptions options) => CommandRunner.Guarded(() => RunCommand.Execute(options)),
            (InfoOptions options) => CommandRunner.Guarded(() => InfoCommand.Execute(options)),
            (SelfTestOptions options) => CommandRunner.Guarded(() => GpuCommands.SelfTest(options)),
            (BenchGpuOptions options) => CommandRunner.Guarded(() => GpuCommands.BenchGpu(options)),
            (DecodeOptions options) => CommandRunner.Guarded(() => DecodeCommand.Execute(options)),
            _ => ExitCodes.BadUsage);
    }
}
