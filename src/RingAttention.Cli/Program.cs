using CommandLine;
using RingAttention.Cli;

ConsoleSetup.Apply();
var parser = new Parser(settings =>
{
    settings.CaseInsensitiveEnumValues = true;
    settings.HelpWriter = Console.Error;
});
return parser.ParseArguments<RunOptions, InfoOptions, SelfTestOptions, BenchGpuOptions>(args).MapResult(
    (RunOptions options) => CommandRunner.Guarded(() => RunCommand.Execute(options)),
    (InfoOptions options) => CommandRunner.Guarded(() => InfoCommand.Execute(options)),
    (SelfTestOptions options) => CommandRunner.Guarded(() => GpuCommands.SelfTest(options)),
    (BenchGpuOptions options) => CommandRunner.Guarded(() => GpuCommands.BenchGpu(options)),
    _ => ExitCodes.BadUsage);
