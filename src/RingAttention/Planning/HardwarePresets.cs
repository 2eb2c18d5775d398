namespace RingAttention.Planning;

/// <summary>
/// Datasheet devices and links. Every figure here is a vendor datasheet value or a published kernel figure, not a
/// measurement by this project; a GPU self-test report (<see cref="MeasuredConstants"/>) replaces the kernel
/// throughput once a GPU host has produced one. Link latencies are assumptions (no datasheet gives them).
/// </summary>
public static class HardwarePresets
{
    /// <summary>Fractions of the bf16 dense peak FlashAttention-2 reaches on Hopper (REFERENCE.md: forward 309–370 TFLOP/s,
    /// backward 190–220 TFLOP/s at head_dim 128 on an H100 SXM with 989 TFLOP/s peak: midpoints 340 and 205).</summary>
    private const double HopperForward = 340.0 / 989.4, HopperBackward = 205.0 / 989.4;

    /// <summary>FlashAttention-2 on A100 (Dao 2023: forward up to ~70% of the 312 TFLOP/s peak, backward ~55%).</summary>
    private const double AmpereForward = 0.70, AmpereBackward = 0.55;

    private const double GB = 1e9, TFlops = 1e12;

    /// <summary>The preset devices, by key.</summary>
    public static IReadOnlyList<DeviceSpec> Devices { get; } =
    [
        new("a100", "NVIDIA A100 SXM 80GB", 80 * GB,
            new DatasheetThroughput(312 * TFlops, AmpereForward, AmpereBackward,
                "datasheet: A100 312 TFLOP/s dense bf16; FlashAttention-2 paper: ~70% forward, ~55% backward"),
            "nvlink3", "datasheet: 80 GB HBM2e"),
        new("h100-sxm", "NVIDIA H100 SXM 80GB", 80 * GB,
            new DatasheetThroughput(989.4 * TFlops, HopperForward, HopperBackward,
                "datasheet: H100 SXM 989 TFLOP/s dense bf16; FlashAttention-2 forward 340, backward 205 TFLOP/s (hd128)"),
            "nvlink4", "datasheet: 80 GB HBM3"),
        new("h800", "NVIDIA H800 SXM 80GB", 80 * GB,
            new DatasheetThroughput(989.4 * TFlops, HopperForward, HopperBackward,
                "datasheet: H800 SXM as H100 SXM, 989 TFLOP/s dense bf16; FlashAttention-2 fractions as on H100"),
            "nvlink4-h800", "datasheet: 80 GB HBM3"),
        new("h200", "NVIDIA H200 SXM 141GB", 141 * GB,
            new DatasheetThroughput(989.4 * TFlops, HopperForward, HopperBackward,
                "datasheet: H200 SXM 989 TFLOP/s dense bf16 (H100's compute); FlashAttention-2 fractions as on H100"),
            "nvlink4", "datasheet: 141 GB HBM3e"),
        new("b200", "NVIDIA B200 180GB", 180 * GB,
            new DatasheetThroughput(2250 * TFlops, HopperForward, HopperBackward,
                "datasheet: HGX B200 2.25 PFLOP/s dense bf16 per GPU; kernel fractions assumed equal to FlashAttention-2 on H100 (none published here)"),
            "nvlink5", "datasheet: 180 GB HBM3e"),
    ];

    /// <summary>The preset links, by key: bandwidth each way per GPU.</summary>
    public static IReadOnlyList<LinkSpec> Links { get; } =
    [
        new("nvlink3", "NVLink 3 (A100)", 300 * GB, 5e-6, Provenance.Datasheet, "datasheet: 600 GB/s total per GPU, 300 GB/s each way; latency 5 µs assumed"),
        new("nvlink4", "NVLink 4 (H100/H200)", 450 * GB, 5e-6, Provenance.Datasheet, "datasheet: 900 GB/s total per GPU, 450 GB/s each way; latency 5 µs assumed"),
        new("nvlink4-h800", "NVLink 4 (H800, export-limited)", 200 * GB, 5e-6, Provenance.Datasheet, "datasheet: 400 GB/s total per GPU, 200 GB/s each way; latency 5 µs assumed"),
        new("nvlink5", "NVLink 5 (B200)", 900 * GB, 5e-6, Provenance.Datasheet, "datasheet: 1.8 TB/s total per GPU, 900 GB/s each way; latency 5 µs assumed"),
        new("ib-ndr", "InfiniBand NDR 400 Gb/s per GPU", 50 * GB, 10e-6, Provenance.Datasheet, "datasheet: 400 Gb/s = 50 GB/s per GPU each way; latency 10 µs assumed"),
        new("ib-hdr", "InfiniBand HDR 200 Gb/s per GPU", 25 * GB, 10e-6, Provenance.Datasheet, "datasheet: 200 Gb/s = 25 GB/s per GPU each way; latency 10 µs assumed"),
        new("ib-edr", "InfiniBand EDR 100 Gb/s per GPU", 12.5 * GB, 10e-6, Provenance.Datasheet, "datasheet: 100 Gb/s = 12.5 GB/s per GPU each way; latency 10 µs assumed"),
        new("ethernet", "Ethernet 100 GbE per GPU (RoCE)", 12.5 * GB, 30e-6, Provenance.Datasheet, "datasheet: 100 Gb/s = 12.5 GB/s per GPU each way; latency 30 µs assumed"),
    ];

    /// <summary>The device named <paramref name="key"/>; an <see cref="InvalidInputException"/> for <c>--device</c> listing the choices otherwise.</summary>
    public static DeviceSpec Device(string key) =>
        Devices.FirstOrDefault(d => string.Equals(d.Key, key, StringComparison.OrdinalIgnoreCase))
        ?? throw new InvalidInputException("--device", $"--device: expected one of {string.Join(", ", Devices.Select(d => d.Key))}, actual '{key}'");

    /// <summary>
    /// The link named <paramref name="key"/>; <c>nvlink</c> means <paramref name="device"/>'s own generation. An
    /// <see cref="InvalidInputException"/> for <c>--link</c> listing the choices otherwise.
    /// </summary>
    public static LinkSpec Link(string key, DeviceSpec device)
    {
        if (string.Equals(key, "nvlink", StringComparison.OrdinalIgnoreCase))
        {
            key = device.NvLinkKey ?? throw new InvalidInputException("--link", $"--link: device {device.Key} has no NVLink; expected one of {string.Join(", ", Links.Select(l => l.Key))}");
        }
        return Links.FirstOrDefault(l => string.Equals(l.Key, key, StringComparison.OrdinalIgnoreCase))
            ?? throw new InvalidInputException("--link", $"--link: expected nvlink or one of {string.Join(", ", Links.Select(l => l.Key))}, actual '{key}'");
    }
}
