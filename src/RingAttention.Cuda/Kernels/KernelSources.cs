using System.Reflection;

namespace RingAttention.Cuda.Kernels;

/// <summary>
/// The CUDA C sources of <c>kernels/</c>, embedded in this assembly so a single-file <c>ringattn</c> carries them:
/// NVRTC gets the compiled file and every header from memory, never from the file system. For kernel development
/// and the mutation check (tools/gpu-emulator/mutations.sh), <c>RINGATTN_KERNEL_SOURCES</c> names a folder whose
/// <c>*.cu</c> and <c>*.cuh</c> files are used instead, without rebuilding.
/// </summary>
internal static class KernelSources
{
    /// <summary>Environment variable naming a folder of kernel sources to use instead of the embedded ones.</summary>
    public const string DirectoryVariable = "RINGATTN_KERNEL_SOURCES";

    private const string Prefix = "kernels/";
    private static readonly Lazy<IReadOnlyDictionary<string, string>> Files = new(Load);

    /// <summary>Every header (<c>*.cuh</c>) by include name.</summary>
    public static IReadOnlyDictionary<string, string> Headers =>
        Files.Value.Where(f => f.Key.EndsWith(".cuh", StringComparison.Ordinal)).ToDictionary(f => f.Key, f => f.Value);

    /// <summary>The text of <paramref name="fileName"/> (e.g. <c>flash_fwd.cu</c>).</summary>
    public static string Get(string fileName) =>
        Files.Value.TryGetValue(fileName, out var text) ? text : throw new ArgumentException($"fileName: expected one of {string.Join(", ", Files.Value.Keys)}, actual {fileName}", nameof(fileName));

    private static IReadOnlyDictionary<string, string> Load()
    {
        string? directory = Environment.GetEnvironmentVariable(DirectoryVariable);
        if (!string.IsNullOrWhiteSpace(directory))
        {
            return Directory.EnumerateFiles(directory)
                .Where(f => f.EndsWith(".cu", StringComparison.Ordinal) || f.EndsWith(".cuh", StringComparison.Ordinal))
                .ToDictionary(f => Path.GetFileName(f), File.ReadAllText, StringComparer.Ordinal);
        }
        var assembly = typeof(KernelSources).Assembly;
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            files[resource[Prefix.Length..]] = reader.ReadToEnd();
        }
        return files;
    }
}
