using System.Runtime.InteropServices;

namespace RingAttention.Cpu;

/// <summary>
/// Which machine measured figures belong to: the CPU model and core count, and the folder name the bench files its
/// results under (<c>bench/results/&lt;slug&gt;/</c>), so that results from different machines sit side by side
/// and readers of them (<c>ringattn plan --device cpu</c>) pick this machine's.
/// </summary>
public static class MachineIdentity
{
    /// <summary>The CPU model as /proc/cpuinfo names it, with its family and model numbers (the architecture name elsewhere).</summary>
    public static string CpuModel()
    {
        const string path = "/proc/cpuinfo";
        if (!File.Exists(path))
        {
            return RuntimeInformation.ProcessArchitecture.ToString();
        }
        var lines = File.ReadLines(path).TakeWhile(line => line.Length > 0).ToList();
        string Field(string name) => lines.FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal)) is { } line
            ? line[(line.IndexOf(':') + 1)..].Trim()
            : "?";
        return $"{Field("model name")} (family {Field("cpu family")}, model {Field("model\t")})";
    }

    /// <summary>
    /// A folder name for <paramref name="cpuModel"/> with <paramref name="cores"/> cores: lower case, runs of anything
    /// but letters and digits as one dash, e.g. "amd-epyc-family-25-model-1-2-cores".
    /// </summary>
    public static string Slug(string cpuModel, int cores)
    {
        var text = $"{cpuModel} {cores} cores".ToLowerInvariant();
        var slug = new System.Text.StringBuilder(text.Length);
        foreach (char c in text)
        {
            if (char.IsAsciiLetterOrDigit(c))
            {
                slug.Append(c);
            }
            else if (slug.Length > 0 && slug[^1] != '-')
            {
                slug.Append('-');
            }
        }
        return slug.ToString().TrimEnd('-');
    }

    /// <summary>This machine's folder name (<see cref="Slug"/> of its CPU model and core count).</summary>
    public static string ThisMachineSlug() => Slug(CpuModel(), Environment.ProcessorCount);

    /// <summary>The folder, under the repository root, where the bench files this machine's results.</summary>
    public static string ThisMachineResultsFolder() => Path.Combine("bench", "results", ThisMachineSlug());
}
