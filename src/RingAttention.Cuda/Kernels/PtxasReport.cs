using System.Text.RegularExpressions;

namespace RingAttention.Cuda.Kernels;

/// <summary>What ptxas reported for one kernel (the <c>-Xptxas=-v</c> lines in NVRTC's log).</summary>
/// <param name="Registers">Registers per thread.</param>
/// <param name="SpillStoreBytes">Bytes of spill stores.</param>
/// <param name="SpillLoadBytes">Bytes of spill loads.</param>
/// <param name="StackFrameBytes">Stack frame bytes.</param>
/// <param name="StaticSharedBytes">Static shared memory (the kernels use dynamic shared memory, so usually 0).</param>
public sealed partial record PtxasReport(int Registers, int SpillStoreBytes, int SpillLoadBytes, int StackFrameBytes, int StaticSharedBytes)
{
    /// <summary>Parses the report of the (single) kernel in <paramref name="log"/>; null when the log has none.</summary>
    public static PtxasReport? Parse(string log)
    {
        var registers = UsedRegisters().Match(log);
        var spills = Spills().Match(log);
        if (!registers.Success || !spills.Success)
        {
            return null;
        }
        var shared = SharedMemory().Match(log);
        return new PtxasReport(
            int.Parse(registers.Groups[1].Value),
            int.Parse(spills.Groups[2].Value),
            int.Parse(spills.Groups[3].Value),
            int.Parse(spills.Groups[1].Value),
            shared.Success ? int.Parse(shared.Groups[1].Value) : 0);
    }

    [GeneratedRegex(@"Used (\d+) registers")]
    private static partial Regex UsedRegisters();

    [GeneratedRegex(@"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")]
    private static partial Regex Spills();

    [GeneratedRegex(@"(\d+) bytes smem")]
    private static partial Regex SharedMemory();
}
