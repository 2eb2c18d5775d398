namespace RingAttention.Planning;

/// <summary>One device a rank runs on: its memory and its attention-kernel throughput.</summary>
/// <param name="Key">Name on the command line (h100-sxm, cpu, …).</param>
/// <param name="Name">Readable name.</param>
/// <param name="MemoryBytes">Device memory, bytes.</param>
/// <param name="Throughput">Achieved kernel FLOP/s.</param>
/// <param name="NvLinkKey">The NVLink generation this device's <c>--link nvlink</c> means; null when it has none.</param>
/// <param name="MemorySource">Where the memory figure comes from.</param>
public sealed record DeviceSpec(string Key, string Name, double MemoryBytes, IKernelThroughput Throughput, string? NvLinkKey, string MemorySource);
