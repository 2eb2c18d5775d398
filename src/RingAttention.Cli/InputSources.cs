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
    /// Opens the files named by --q/--k/--v or --input (none when inputs are random), checks them against each other
    /// and against explicit options, and returns them with <paramref name="run"/>'s shape (seq, batch, heads, kv
    /// heads, head dim, dtype) taken from them, so everything downstream sees the files' problem.
    /// </summary>
    public static (FileTensorSource? Files, RunOptions Run) OpenFiles(RunOptions run)
    {
        bool npy = run.QueryFile is not null || run.KeyFile is not null || run.ValueFile is not null;
        if (npy && run.InputFile is not null)
        {
            throw new InvalidInputException("--input", "--input: expected either --input (safetensors) or --q/--k/--v (.npy), actual both.");
        }
        if (!npy && run.InputFile is null)
        {
            foreach (var option in new[] { "q-name", "k-name", "v-name" }.Where(run.WasGiven))
            {
                throw new InvalidInputException("--" + option, $"--{option}: names a tensor of --input, but no --input was given.");
            }
            return (null, run);
        }
        FileTensorSource files;
        if (npy)
        {
            foreach (var (option, path) in new[] { ("--q", run.QueryFile), ("--k", run.KeyFile), ("--v", run.ValueFile) })
            {
                if (path is null)
                {
                    throw new InvalidInputException(option, $"{option}: expected a .npy file, as --q, --k and --v go together; actual none.");
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
            return (files, WithShapeOf(run, files));
        }
        catch
        {
            files.Dispose();
            throw;
        }
    }

    /// <summary>The files when given, else random inputs shaped by <paramref name="options"/>.</summary>
    public static ITensorSource Create(RunOptions run, AttentionOptions options, FileTensorSource? files) =>
        files ?? (ITensorSource)new CounterRandomSource(run.Seed, options, run.SequenceLength);

    private static RunOptions WithShapeOf(RunOptions run, FileTensorSource files)
    {
        var checks = new (string Option, object Given, object FromFiles, string What)[]
        {
            ("seq", run.SequenceLength, files.SequenceLength, "sequence length"),
            ("batch", run.Batch, files.Batch, "batch"),
            ("heads", run.Heads, files.Heads, "query heads"),
            ("kv-heads", run.KvHeads ?? run.Heads, files.KvHeads, "kv heads"),
            ("head-dim", run.HeadDim, files.HeadDim, "head dim"),
            ("dtype", run.ElementType, files.ElementType, "dtype"),
        };
        foreach (var (option, given, fromFiles, what) in checks)
        {
            if (run.WasGiven(option) && !given.Equals(fromFiles))
            {
                throw new InvalidInputException("--" + option,
                    $"--{option}: {Show(given)} conflicts with the input files: {TerminalText.Escape(files.Origin)} has {what} {Show(fromFiles)}; drop --{option} (the shape comes from the files) or convert the files.");
            }
        }
        return run with
        {
            SequenceLength = files.SequenceLength,
            Batch = files.Batch,
            Heads = files.Heads,
            KvHeads = files.KvHeads,
            HeadDim = files.HeadDim,
            ElementType = files.ElementType,
        };
    }

    private static void ExpectFormat(string option, string path, TensorFileFormat format, string alternative)
    {
        string extension = format == TensorFileFormat.Npy ? ".npy" : ".safetensors";
        if (!path.EndsWith(extension, StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidInputException(option, $"{option}: expected a {extension} file (use {alternative}), actual {TerminalText.Escape(path)}.");
        }
    }

    private static string Show(object value) => value is ElementType type ? $"{type} ({ElementTypes.ShortName(type)})" : value.ToString() ?? "";
}
