namespace RingAttention.Inputs;

/// <summary>Rounds fp32 values to what the storage type can hold, so references see exactly the kernel's inputs.</summary>
public static class StorageRounding
{
    /// <summary>Rounds every value of <paramref name="values"/> through <paramref name="type"/> and back.</summary>
    public static void Round(ElementType type, Span<float> values)
    {
        switch (type)
        {
            case ElementType.Float16:
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = (float)(Half)values[i];
                }
                break;
            case ElementType.BFloat16:
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = (float)(BFloat16)values[i];
                }
                break;
        }
    }
}
