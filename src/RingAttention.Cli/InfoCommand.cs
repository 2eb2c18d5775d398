using System.Runtime.InteropServices;
using System.Text.Json;
using RingAttention.Cpu;

namespace RingAttention.Cli;

/// <summary><c>ringattn info</c>: the machine and the backends/transports usable on it, with the reason when one is not.</summary>
internal static class InfoCommand
{
    public static int Execute(InfoOptions options)
    {
        // Each backend and transport reports itself, with the reason when it cannot be used here.
        var facts = new List<(string Name, string Value)>();
        facts.AddRange(MachineFacts());
        facts.AddRange(CudaInfo.Facts());
        facts.AddRange(MpiInfo.Facts());
        facts.AddRange(NcclInfo.Facts());
        if (options.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(facts.ToDictionary(f => f.Name, f => f.Value), new JsonSerializerOptions { WriteIndented = true }));
        }
        else
        {
            foreach (var (name, value) in facts)
            {
                Console.WriteLine($"{name,-22} {value}");
            }
        }
        return ExitCodes.Ok;
    }

    private static IEnumerable<(string Name, string Value)> MachineFacts()
    {
        yield return ("cpu", CpuModel());
        yield return ("cores", Environment.ProcessorCount.ToString());
        yield return ("simd", $"{SimdTiers.Best} ({(int)SimdTiers.Best / 32} fp32 lanes)");
        yield return ("runtime", $"{RuntimeInformation.FrameworkDescription} on {RuntimeInformation.RuntimeIdentifier}");
        yield return ("backend cpu", "available");
        yield return ("transport in-process", "available (emulation)");
    }

    private static string CpuModel()
    {
        const string cpuInfo = "/proc/cpuinfo";
        if (File.Exists(cpuInfo))
        {
            var line = File.ReadLines(cpuInfo).FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            if (line is not null)
            {
                return line[(line.IndexOf(':') + 1)..].Trim();
            }
        }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }
}
