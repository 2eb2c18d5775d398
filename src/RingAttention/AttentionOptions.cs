namespace RingAttention;

/// <summary>
/// The attention problem every rank shares: shapes that do not depend on the sequence split, the mask and the
/// softmax scale. Per-rank tensors are row-major [batch, seq, heads, headDim]; LSE is fp32 [batch, heads, seq].
/// </summary>
public sealed class AttentionOptions
{
    /// <summary>The largest head dimension any backend supports.</summary>
    public const int MaxHeadDim = 256;

    /// <summary>Number of independent sequences (B). At least 1.</summary>
    public int Batch { get; init; } = 1;

    /// <summary>Number of query heads (H). A positive multiple of <see cref="KvHeads"/>.</summary>
    public int Heads { get; init; } = 1;

    /// <summary>
    /// Number of key/value heads (Hkv). Equal to <see cref="Heads"/> for multi-head attention, smaller for GQA/MQA:
    /// query head h reads KV head h / (Heads / KvHeads). Null means equal to <see cref="Heads"/>.
    /// </summary>
    public int? KvHeads { get; init; }

    /// <summary>Head dimension (D), 1 to <see cref="MaxHeadDim"/>.</summary>
    public int HeadDim { get; init; } = 64;

    /// <summary>
    /// Causal attention by global token position: query at position i sees keys at positions j ≤ i, whatever rank
    /// holds them.
    /// </summary>
    public bool Causal { get; init; }

    /// <summary>Softmax scale applied to QKᵀ. Null means 1/sqrt(HeadDim). Must be finite and positive.</summary>
    public float? SoftmaxScale { get; init; }

    /// <summary>Storage type of Q, K, V and O; compute is fp32 regardless.</summary>
    public ElementType ElementType { get; init; } = ElementType.Float32;

    /// <summary>The KV head count with the default applied.</summary>
    public int EffectiveKvHeads => KvHeads ?? Heads;

    /// <summary>The softmax scale with the default applied.</summary>
    public float EffectiveSoftmaxScale => SoftmaxScale ?? 1f / MathF.Sqrt(HeadDim);

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first field that is out of range.</summary>
    public void Validate()
    {
        Guard.AtLeast(Batch, 1);
        Guard.AtLeast(Heads, 1);
        Guard.InRange(HeadDim, 1, MaxHeadDim);
        int kvHeads = EffectiveKvHeads;
        Guard.AtLeast(kvHeads, 1, nameof(KvHeads));
        Guard.That(Heads % kvHeads == 0, nameof(Heads), $"a multiple of {nameof(KvHeads)} ({kvHeads})", Heads);
        float scale = EffectiveSoftmaxScale;
        Guard.That(float.IsFinite(scale) && scale > 0, nameof(SoftmaxScale), "a finite positive value", scale);
        Guard.That(Enum.IsDefined(ElementType), nameof(ElementType), "Float32, Float16 or BFloat16", ElementType);
    }

    /// <summary>Elements in one row of Q or O (Heads × HeadDim).</summary>
    public int QueryRowElements => Heads * HeadDim;

    /// <summary>Elements in one row of K or V (KvHeads × HeadDim).</summary>
    public int KeyRowElements => EffectiveKvHeads * HeadDim;

    /// <summary>Forward FLOPs for sequence length <paramref name="n"/> (flash-attn's convention: 4·B·N²·H·D, halved when causal).</summary>
    public double ForwardFlops(long n) => 4.0 * Batch * n * n * Heads * HeadDim * (Causal ? 0.5 : 1.0);

    /// <inheritdoc />
    public override string ToString() =>
        $"batch={Batch} heads={Heads} kv_heads={EffectiveKvHeads} head_dim={HeadDim} causal={Causal} " +
        $"scale={EffectiveSoftmaxScale:G6} dtype={ElementTypes.ShortName(ElementType)}";
}
