using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using RingAttention.Cpu;

namespace RingAttention.Bench;

/// <summary>What the figures were measured on.</summary>
internal sealed record MachineFacts(
    string Cpu, int Cores, string Simd, string Caches, string Runtime, string Os, string Date, string LoadAtStart)
{
    public static MachineFacts Describe() => new(
        MachineIdentity.CpuModel(),
        Environment.ProcessorCount,
        $"{SimdTiers.Best} ({(int)SimdTiers.Best / 32} fp32 lanes){(Avx512F.IsSupported ? ", AVX-512F" : "")}{(Fma.IsSupported ? ", FMA" : "")}",
        CacheSizes(),
        RuntimeInformation.FrameworkDescription,
        RuntimeInformation.OSDescription,
        DateTimeOffset.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'"),
        LoadAverage());

    /// <summary>The 1-, 5- and 15-minute load averages (other processes share the cores: read figures with it).</summary>
    public static string LoadAverage()
    {
        const string path = "/proc/loadavg";
        return File.Exists(path) ? string.Join(' ', File.ReadAllText(path).Split(' ').Take(3)) : "unknown";
    }

    private static string CacheSizes()
    {
        const string root = "/sys/devices/system/cpu/cpu0/cache";
        if (!Directory.Exists(root))
        {
            return "unknown";
        }
        return string.Join(", ", Directory.GetDirectories(root, "index*").Order().Select(index =>
        {
            string Read(string name) => File.Exists(Path.Combine(index, name)) ? File.ReadAllText(Path.Combine(index, name)).Trim() : "?";
            string type = Read("type") switch { "Data" => "d", "Instruction" => "i", _ => "" };
            return $"L{Read("level")}{type} {Read("size")}";
        }));
    }
}
