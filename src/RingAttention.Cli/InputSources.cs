using RingAttention.Inputs;
using RingAttention.IO;

namespace RingAttention.Cli;

/// <summary>
/// Chooses where Q, K and V come from: the counter-based random source (the default) or the user's files. With
/// files, the problem's shape and storage type come from them; an option given explicitly on the command line
/// that disagrees with the files is an error naming both, never silently overridden.
/// </summary>
internal static class InputSources
{
    /// <summary>
    /// Opens the files named by --q/--k/--v or --input (null when inputs are random), checks them against each other
    /// and against explicit options, and sets <paramref name="run"/>'s shape (seq, batch, heads, kv heads, head dim,
    /// dtype) from them, so everything downstream sees the files' problem. <paramref name="commandLine"/> is the
    /// run's arguments (default: this process's), which tell explicit options from defaults.
    /// </summary>
    public static FileTensorSource? OpenFiles(RunOptions run, IReadOnlyList<string>? commandLine = null)
    {
        bool npy = run.QueryFile is not null || run.KeyFile is not null || run.ValueFile is not null;
        commandLine ??= Environment.GetCommandLineArgs().Skip(1).ToArray();
        if (npy && run.InputFile is not null)
        {
            throw new ArgumentException("--input: expected either --input (safetensors) or --q/--k/--v (.npy), actual both.");
        }
        if (!npy && run.InputFile is null)
        {
            foreach (var option in new[] { "--q-name", "--k-name", "--v-name" }.Where(o => IsGiven(commandLine, o)))
            {
                throw new ArgumentException($"{option}: names a tensor of --input, but no --input was given.");
            }
            return null;
        }
        FileTensorSource files;
        if (npy)
        {
            foreach (var (option, path) in new[] { ("--q", run.QueryFile), ("--k", run.KeyFile), ("--v", run.ValueFile) })
            {
                if (path is null)
                {
                    throw new ArgumentException($"{option}: expected a .npy file, as --q, --k and --v go together; actual none.");
                }
                ExpectFormat(option, path, TensorFileFormat.Npy, "--input for safetensors");
            }
            files = FileTensorSource.OpenNpy(run.QueryFile!, run.KeyFile!, run.ValueFile!, run.InputLayout);
        }
        else
        {
            ExpectFormat("--input", run.InputFile!, TensorFileFormat.Safetensors, "--q/--k/--v for .npy");
            files = FileTensorSource.OpenSafetensors(run.InputFile!, run.InputLayout, run.QueryName, run.KeyName, run.ValueName);
        }
        try
        {
            ApplyShape(run, files, commandLine);
        }
        catch
        {
            files.Dispose();
            throw;
        }
        return files;
    }

    /// <summary>The files when given, else random inputs shaped by <paramref name="options"/>.</summary>
    public static ITensorSource Create(RunOptions run, AttentionOptions options, FileTensorSource? files) =>
        files ?? (ITensorSource)new CounterRandomSource(run.Seed, options, run.SequenceLength);

    private static void ApplyShape(RunOptions run, FileTensorSource files, IReadOnlyList<string> commandLine)
    {
        var checks = new (string Option, object Given, object FromFiles, string What)[]
        {
            ("--seq", run.SequenceLength, files.SequenceLength, "sequence length"),
            ("--batch", run.Batch, files.Batch, "batch"),
            ("--heads", run.Heads, files.Heads, "query heads"),
            ("--kv-heads", run.KvHeads ?? run.Heads, files.KvHeads, "kv heads"),
            ("--head-dim", run.HeadDim, files.HeadDim, "head dim"),
            ("--dtype", run.ElementType, files.ElementType, "dtype"),
        };
        foreach (var (option, given, fromFiles, what) in checks)
        {
            if (IsGiven(commandLine, option) && !given.Equals(fromFiles))
            {
                throw new ArgumentException(
                    $"{option}: {Show(given)} conflicts with the input files: {files.Origin} has {what} {Show(fromFiles)}; drop {option} (the shape comes from the files) or convert the files.");
            }
        }
        run.SequenceLength = files.SequenceLength;
        run.Batch = files.Batch;
        run.Heads = files.Heads;
        run.KvHeads = files.KvHeads;
        run.HeadDim = files.HeadDim;
        run.ElementType = files.ElementType;
    }

    private static void ExpectFormat(string option, string path, TensorFileFormat format, string alternative)
    {
        string extension = format == TensorFileFormat.Npy ? ".npy" : ".safetensors";
        if (!path.EndsWith(extension, StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"{option}: expected a {extension} file (use {alternative}), actual {path}.");
        }
    }

    private static string Show(object value) => value is ElementType type ? $"{type} ({ElementTypes.ShortName(type)})" : value.ToString() ?? "";

    /// <summary>Whether <paramref name="option"/> appears as "--name value" or "--name=value".</summary>
    private static bool IsGiven(IReadOnlyList<string> commandLine, string option) =>
        commandLine.Any(arg => arg == option || arg.StartsWith(option + "=", StringComparison.Ordinal));
}
