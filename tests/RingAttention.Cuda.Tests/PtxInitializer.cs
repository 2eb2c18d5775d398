using System.Text.RegularExpressions;

namespace RingAttention.Cuda.Tests;

/// <summary>
/// Reads back constants NVRTC folded at compile time: a device variable's initializer in the PTX. NVRTC has no way to
/// run code without a GPU, but a constexpr function evaluated in a <c>__device__</c> variable's initializer shows its
/// results in the PTX as plain numbers.
/// </summary>
internal static class PtxInitializer
{
    /// <summary>The bytes of the initializer of <c>.b8 name[N] = {...}</c> (how PTX spells structs and byte arrays).</summary>
    public static byte[] Bytes(string ptx, string name)
    {
        var match = Regex.Match(ptx, @"\.b8\s+" + Regex.Escape(name) + @"\[(\d+)\]\s*=\s*\{([^}]*)\}");
        Assert.True(match.Success, $"no .b8 initializer for {name} in the PTX:\n{ptx}");
        var bytes = match.Groups[2].Value.Split(',').Select(b => byte.Parse(b.Trim())).ToArray();
        Assert.Equal(int.Parse(match.Groups[1].Value), bytes.Length);
        return bytes;
    }

    /// <summary>The initializer read as little-endian 32-bit signed values.</summary>
    public static int[] Int32s(string ptx, string name)
    {
        var bytes = Bytes(ptx, name);
        return Enumerable.Range(0, bytes.Length / 4).Select(i => BitConverter.ToInt32(bytes, i * 4)).ToArray();
    }

    /// <summary>The initializer read as little-endian 64-bit unsigned values.</summary>
    public static ulong[] UInt64s(string ptx, string name)
    {
        var bytes = Bytes(ptx, name);
        return Enumerable.Range(0, bytes.Length / 8).Select(i => BitConverter.ToUInt64(bytes, i * 8)).ToArray();
    }
}
