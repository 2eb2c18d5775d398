using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace RingAttention.IO;

/// <summary>One tensor entry of a safetensors header, whatever its dtype.</summary>
/// <param name="Name">Tensor name.</param>
/// <param name="DType">dtype string as written (F32, BF16, I64, …).</param>
/// <param name="Shape">Axis lengths.</param>
/// <param name="Begin">First byte, relative to the data section.</param>
/// <param name="End">One past the last byte, relative to the data section.</param>
public sealed record SafetensorsEntry(string Name, string DType, IReadOnlyList<long> Shape, long Begin, long End);

/// <summary>A checked safetensors header: every entry, and where the data section starts.</summary>
/// <param name="Path">The file.</param>
/// <param name="DataStart">Byte offset of the data section (8 + header length).</param>
/// <param name="Entries">Tensors by name.</param>
/// <param name="Metadata">The optional <c>__metadata__</c> string map.</param>
public sealed record SafetensorsHeader(string Path, long DataStart, IReadOnlyDictionary<string, SafetensorsEntry> Entries, IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>The tensor <paramref name="name"/>, which must exist and be F32, F16 or BF16.</summary>
    public StoredTensor Tensor(string name)
    {
        if (!Entries.TryGetValue(name, out var entry))
        {
            string held = Entries.Count == 0 ? "no tensors" : "tensors " + string.Join(", ", Entries.Keys.Order(StringComparer.Ordinal).Select(n => $"'{n}'"));
            throw new TensorFileException(Path, $"tensor '{name}'", $"not in the file, which holds {held}");
        }
        var type = SafetensorsFormat.ElementTypeOf(entry.DType)
            ?? throw new TensorFileException(Path, $"tensor '{name}' dtype", $"expected F32, F16 or BF16, actual '{entry.DType}'");
        return new StoredTensor(Path, name, type, entry.Shape, DataStart + entry.Begin);
    }
}

/// <summary>
/// The safetensors format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping each tensor name to
/// its dtype, shape and [begin, end) byte offsets in the data section that follows (plus an optional
/// <c>__metadata__</c> map of strings), then the data, little-endian in C order. The reader enforces the format's
/// rules: the header fits the file, entries are complete and consistent with their dtype and shape, and the entries
/// tile the data section exactly (no overlaps, no holes, nothing past the end, nothing after it).
/// </summary>
public static class SafetensorsFormat
{
    /// <summary>The reference implementation's limit on the header; larger length fields are corrupt.</summary>
    private const long MaxHeaderBytes = 100_000_000;

    private const string MetadataKey = "__metadata__";

    /// <summary>Element sizes of the dtypes the format defines, so that every entry can be checked, not only ours.</summary>
    private static readonly Dictionary<string, int> DTypeSizes = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E5M2"] = 1, ["F8_E4M3"] = 1, ["F8_E8M0"] = 1,
        ["I16"] = 2, ["U16"] = 2, ["F16"] = 2, ["BF16"] = 2,
        ["I32"] = 4, ["U32"] = 4, ["F32"] = 4,
        ["I64"] = 8, ["U64"] = 8, ["F64"] = 8, ["C64"] = 8,
    };

    /// <summary>The dtype string of a storage type.</summary>
    public static string DType(ElementType type) => type switch
    {
        ElementType.Float32 => "F32",
        ElementType.Float16 => "F16",
        ElementType.BFloat16 => "BF16",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "expected Float32, Float16 or BFloat16"),
    };

    /// <summary>The storage type of a dtype string, or null when the runtime cannot compute on it.</summary>
    public static ElementType? ElementTypeOf(string dtype) => dtype switch
    {
        "F32" => ElementType.Float32,
        "F16" => ElementType.Float16,
        "BF16" => ElementType.BFloat16,
        _ => null,
    };

    /// <summary>Reads and checks the header of the safetensors file at <paramref name="path"/>.</summary>
    public static SafetensorsHeader ReadHeader(string path)
    {
        using var file = TensorFiles.OpenRead(path);
        long fileLength = file.Length;
        Span<byte> prefix = stackalloc byte[8];
        if (file.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8)
        {
            throw new TensorFileException(path, "header length", $"expected an 8-byte header length, actual a file of {fileLength} bytes");
        }
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)(fileLength - 8))
        {
            throw new TensorFileException(path, "header length", $"the header length field says {headerLength} bytes, but only {fileLength - 8} bytes follow it (file of {fileLength} bytes)");
        }
        if (headerLength > MaxHeaderBytes || headerLength < 2)
        {
            throw new TensorFileException(path, "header length", $"expected 2 to {MaxHeaderBytes} bytes, actual {headerLength}");
        }
        var json = new byte[headerLength];
        file.ReadExactly(json);
        long dataStart = 8 + (long)headerLength;
        var (entries, metadata) = ParseHeader(path, json);
        CheckTiling(path, entries, fileLength - dataStart);
        return new SafetensorsHeader(path, dataStart, entries, metadata);
    }

    /// <summary>
    /// The bytes before the data of a safetensors file holding <paramref name="tensors"/> back to back in the given
    /// order, and each tensor's absolute data offset. The JSON is padded with spaces so the data starts at a
    /// multiple of 8, as the reference writer does.
    /// </summary>
    public static (byte[] Header, long[] DataOffsets) EncodeHeader(IReadOnlyList<(string Name, ElementType Type, IReadOnlyList<long> Shape)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var relative = new long[tensors.Count];
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                writer.WriteStartObject(MetadataKey);
                foreach (var (key, value) in metadata)
                {
                    writer.WriteString(key, value);
                }
                writer.WriteEndObject();
            }
            long offset = 0;
            for (int i = 0; i < tensors.Count; i++)
            {
                var (name, type, shape) = tensors[i];
                long bytes = StoredTensor.ElementCount(shape) * ElementTypes.SizeOf(type);
                writer.WriteStartObject(name);
                writer.WriteString("dtype", DType(type));
                writer.WriteStartArray("shape");
                foreach (long axis in shape)
                {
                    writer.WriteNumberValue(axis);
                }
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + bytes);
                writer.WriteEndArray();
                writer.WriteEndObject();
                relative[i] = offset;
                offset += bytes;
            }
            writer.WriteEndObject();
        }
        int jsonLength = (int)buffer.Length;
        int padded = (8 + jsonLength + 7) / 8 * 8 - 8;
        var header = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)padded);
        buffer.GetBuffer().AsSpan(0, jsonLength).CopyTo(header.AsSpan(8));
        header.AsSpan(8 + jsonLength).Fill((byte)' ');
        return (header, relative.Select(r => header.Length + r).ToArray());
    }

    private static (Dictionary<string, SafetensorsEntry>, Dictionary<string, string>) ParseHeader(string path, byte[] json)
    {
        if (json[0] != (byte)'{')
        {
            throw new TensorFileException(path, "header", $"expected a JSON object starting with '{{', actual byte 0x{json[0]:X2}");
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new TensorFileException(path, "header", $"expected JSON, actual invalid text ({e.Message})", e);
        }
        using (document)
        {
            var entries = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                {
                    throw new TensorFileException(path, $"tensor '{property.Name}'", "appears twice in the header");
                }
                if (property.Name == MetadataKey)
                {
                    ParseMetadata(path, property.Value, metadata);
                    continue;
                }
                entries.Add(property.Name, ParseEntry(path, property.Name, property.Value));
            }
            return (entries, metadata);
        }
    }

    private static void ParseMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new TensorFileException(path, MetadataKey, $"expected an object of strings, actual {value.ValueKind}");
        }
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
            {
                throw new TensorFileException(path, $"{MetadataKey}.{item.Name}", $"expected a string, actual {item.Value.ValueKind}");
            }
            metadata[item.Name] = item.Value.GetString()!;
        }
    }

    private static SafetensorsEntry ParseEntry(string path, string name, JsonElement value)
    {
        string field = $"tensor '{name}'";
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new TensorFileException(path, field, $"expected an object with dtype, shape and data_offsets, actual {value.ValueKind}");
        }
        foreach (var key in value.EnumerateObject().Select(p => p.Name).Where(k => k is not ("dtype" or "shape" or "data_offsets")))
        {
            throw new TensorFileException(path, field, $"expected only dtype, shape and data_offsets, actual an extra key '{key}'");
        }
        if (!value.TryGetProperty("dtype", out var dtypeValue) || dtypeValue.ValueKind != JsonValueKind.String)
        {
            throw new TensorFileException(path, $"{field} dtype", "expected a string such as \"F32\", missing or not a string");
        }
        string dtype = dtypeValue.GetString()!;
        var shape = ReadIntegers(path, $"{field} shape", value, "shape", expectedCount: null);
        var offsets = ReadIntegers(path, $"{field} data_offsets", value, "data_offsets", expectedCount: 2);
        if (offsets[0] > offsets[1])
        {
            throw new TensorFileException(path, $"{field} data_offsets", $"expected begin ≤ end, actual [{offsets[0]}, {offsets[1]}]");
        }
        if (DTypeSizes.TryGetValue(dtype, out int size))
        {
            long expected;
            try
            {
                expected = checked(StoredTensor.ElementCount(shape) * size);
            }
            catch (OverflowException e)
            {
                throw new TensorFileException(path, $"{field} shape", $"{StoredTensor.FormatShape(shape)} has more elements than a file can hold", e);
            }
            if (offsets[1] - offsets[0] != expected)
            {
                throw new TensorFileException(path, $"{field} data_offsets",
                    $"expected {expected} bytes (shape {StoredTensor.FormatShape(shape)} of {dtype}), actual [{offsets[0]}, {offsets[1]}] = {offsets[1] - offsets[0]} bytes");
            }
        }
        return new SafetensorsEntry(name, dtype, shape, offsets[0], offsets[1]);
    }

    private static long[] ReadIntegers(string path, string field, JsonElement entry, string key, int? expectedCount)
    {
        string expected = expectedCount is null ? "an array of non-negative integers" : $"an array of {expectedCount} non-negative integers";
        if (!entry.TryGetProperty(key, out var array) || array.ValueKind != JsonValueKind.Array)
        {
            throw new TensorFileException(path, field, $"expected {expected}, missing or not an array");
        }
        var values = new List<long>();
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long value) || value < 0)
            {
                throw new TensorFileException(path, field, $"expected {expected}, actual {array.GetRawText()}");
            }
            values.Add(value);
        }
        if (expectedCount is not null && values.Count != expectedCount)
        {
            throw new TensorFileException(path, field, $"expected {expected}, actual {array.GetRawText()}");
        }
        return values.ToArray();
    }

    /// <summary>The entries must cover the data section exactly once, in some order (the format forbids holes).</summary>
    private static void CheckTiling(string path, Dictionary<string, SafetensorsEntry> entries, long dataBytes)
    {
        long covered = 0;
        SafetensorsEntry? previous = null;
        foreach (var entry in entries.Values.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (entry.Begin < covered)
            {
                throw new TensorFileException(path, $"tensor '{entry.Name}' data_offsets",
                    $"[{entry.Begin}, {entry.End}] overlaps tensor '{previous!.Name}' at [{previous.Begin}, {previous.End}]");
            }
            if (entry.Begin > covered)
            {
                throw new TensorFileException(path, $"tensor '{entry.Name}' data_offsets",
                    $"starts at {entry.Begin}, leaving data bytes [{covered}, {entry.Begin}) that belong to no tensor");
            }
            if (entry.End > dataBytes)
            {
                throw new TensorFileException(path, $"tensor '{entry.Name}' data_offsets",
                    $"truncated: [{entry.Begin}, {entry.End}] ends past the data section, which holds {dataBytes} bytes");
            }
            covered = entry.End;
            previous = entry;
        }
        if (covered != dataBytes)
        {
            throw new TensorFileException(path, "data", $"expected {covered} bytes after the header (the tensors' extent), actual {dataBytes}");
        }
    }
}
