namespace RingAttention.Cuda.Kernels;

/// <summary>
/// What the backend needs to build and launch one kernel kind, as data: adding a kernel kind (backward, split-KV
/// decode, combine) is adding a row to <see cref="KernelSpecs"/>, not a case to every property.
/// </summary>
/// <param name="Kind">The kind this row describes.</param>
/// <param name="SourceFile">The .cu file in <c>kernels/</c>.</param>
/// <param name="EntryPoint">The extern "C" kernel name.</param>
/// <param name="Defines">The -D defines that specialise a variant, in a fixed order (part of the cache key).</param>
/// <param name="Threads">Threads per block of a variant.</param>
/// <param name="Name">A short name of a variant for logs and tables.</param>
/// <param name="BlockM">Query rows per thread block of a variant (0 for kernels not tiled by query rows).</param>
/// <param name="SharedBytes">Dynamic shared memory per block of a variant at a run-time head dim.</param>
public sealed record KernelSpec(
    KernelKind Kind,
    string SourceFile,
    string EntryPoint,
    Func<KernelVariant, IReadOnlyList<(string Name, int Value)>> Defines,
    Func<KernelVariant, int> Threads,
    Func<KernelVariant, string> Name,
    Func<KernelVariant, int> BlockM,
    Func<KernelVariant, int, int> SharedBytes);
