using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using RingAttention.Cuda.Kernels;
using RingAttention.Kernels;

namespace RingAttention.Cuda.Tests;

/// <summary>
/// The C# parameter structs against kernels/flash_params.cuh: every field's offset and size and the struct sizes, as
/// NVRTC lays out the real header, compared with the C# layout field by field (by name).
/// </summary>
public sealed class ParamsLayoutTests
{
    [Fact]
    public void ForwardParamsHaveTheExpectedSize()
    {
        // 6 pointers, 14 strides, 14 ints/floats: 48 + 112 + 56 bytes, no padding; the QKV part 3 pointers, 9 strides, 4 ints.
        Assert.Equal(216, Marshal.SizeOf<FlashForwardParams>());
        Assert.Equal(112, Marshal.SizeOf<FlashQkvParams>());
        Assert.Equal(0, (int)Marshal.OffsetOf<FlashForwardParams>(nameof(FlashForwardParams.Qkv)));
        Assert.Equal(64, Marshal.SizeOf<FlashFinalizeParams>());
    }

    [SkippableFact]
    public void HeaderMatchesTheCSharpStructsFieldForField()
    {
        Requirements.Nvrtc();
        AssertHeaderLayout<FlashQkvParams>("FlashQkvParams");
        AssertHeaderLayout<FlashForwardParams>("FlashFwdParams");
        AssertHeaderLayout<FlashFinalizeParams>("FlashFinalizeParams");
        AssertHeaderLayout<FlashDecodeParams>("FlashDecodeParams");
    }

    /// <summary>
    /// NVRTC has no constant offsetof, so the header's layout is read back from a compiled initializer: an array of
    /// (offset, size) per C# field name, then sizeof, which NVRTC folds into the PTX as bytes. A C# field that nests
    /// a shared part (<see cref="FlashQkvParams"/>, a base struct in C++) is compared through its own fields, which
    /// C++ reaches by name on the derived struct.
    /// </summary>
    private static void AssertHeaderLayout<T>(string cName) where T : struct
    {
        var fields = Flatten(typeof(T), 0).ToArray();
        Assert.True(fields.Length > 5);
        var facts = fields.SelectMany(f => new[] { $"(unsigned long long)&((({cName}*)0)->{f.Name})", $"sizeof((({cName}*)0)->{f.Name})" })
            .Append($"sizeof({cName})");
        string source = "#include \"flash_params.cuh\"\nextern \"C\" __device__ const unsigned long long layout_facts[] = {\n  " +
                        string.Join(",\n  ", facts) + "\n};\n";
        using var program = new CudaRuntimeCompiler(source, "layout_check.cu", KernelSources.Headers);
        program.Compile(["-std=c++17", "-arch=compute_80"]);
        var values = PtxInitializer.UInt64s(Encoding.UTF8.GetString(program.GetPTX()), "layout_facts");

        Assert.Equal(2 * fields.Length + 1, values.Length);
        for (int i = 0; i < fields.Length; i++)
        {
            Assert.True(fields[i].Offset == (long)values[2 * i], $"{cName}.{fields[i].Name}: C# offset {fields[i].Offset}, header {values[2 * i]}");
            Assert.True(fields[i].Size == (int)values[2 * i + 1], $"{cName}.{fields[i].Name}: C# size {fields[i].Size}, header {values[2 * i + 1]}");
        }
        Assert.Equal((ulong)Marshal.SizeOf<T>(), values[^1]);
    }

    /// <summary>The leaf fields of <paramref name="type"/> with their offsets from the start of the outermost struct.</summary>
    private static IEnumerable<(string Name, long Offset, int Size)> Flatten(Type type, long baseOffset)
    {
        foreach (var field in type.GetFields(BindingFlags.Public | BindingFlags.Instance))
        {
            long offset = baseOffset + Marshal.OffsetOf(type, field.Name);
            if (field.FieldType.Name.EndsWith("Params", StringComparison.Ordinal))
            {
                foreach (var inner in Flatten(field.FieldType, offset))
                {
                    yield return inner;
                }
            }
            else
            {
                yield return (field.Name, offset, Marshal.SizeOf(field.FieldType));
            }
        }
    }
}
