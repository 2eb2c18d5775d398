using System.Text.RegularExpressions;
using RingAttention.Cuda.Kernels;

namespace RingAttention.Cuda.Tests;

/// <summary>
/// Rules the kernel sources keep so the software GPU (tools/gpu-emulator) can run them as C++: inline PTX lives only
/// in ptx.cuh, whose host twin the emulator provides, and nothing else reaches for device-only spellings it lacks.
/// </summary>
public sealed partial class KernelSourceRulesTests
{
    private const string PtxHeader = "ptx.cuh";

    [Fact]
    public void OnlyThePtxHeaderContainsAsm()
    {
        var files = KernelSources.Headers.Keys.Append("flash_fwd.cu").Append("flash_fwd_fp32.cu").Append("flash_finalize.cu");
        var offenders = files.Where(f => f != PtxHeader && Asm().IsMatch(StripComments(Source(f)))).ToArray();
        Assert.True(offenders.Length == 0, $"inline PTX outside {PtxHeader}: {string.Join(", ", offenders)}");
        Assert.Matches(Asm(), Source(PtxHeader));
    }

    [Fact]
    public void SharedMemoryAndShufflesGoThroughThePtxHeader()
    {
        var files = KernelSources.Headers.Keys.Append("flash_fwd.cu").Append("flash_fwd_fp32.cu").Append("flash_finalize.cu").Where(f => f != PtxHeader);
        foreach (var file in files)
        {
            string text = StripComments(Source(file));
            Assert.DoesNotContain("__shared__", text);
            Assert.DoesNotContain("__shfl", text);
            Assert.DoesNotContain("__cvta", text);
        }
    }

    private static string Source(string file) => file.EndsWith(".cuh", StringComparison.Ordinal) ? KernelSources.Headers[file] : KernelSources.Get(file);

    private static string StripComments(string text) => Comments().Replace(text, "");

    [GeneratedRegex(@"\basm\b")]
    private static partial Regex Asm();

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex Comments();
}
