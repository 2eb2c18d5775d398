using System.IO.Hashing;
using RingAttention.Kernels;
using RingAttention.Ring;

namespace RingAttention.Cli;

/// <summary>A hash of a rank's O and LSE bytes: equal digests mean bitwise-equal outputs (runs compared across transports).</summary>
internal static class OutputDigests
{
    private const int PieceBytes = 64 << 20;

    public static string Of(IAttentionBackend backend, RingRank rank)
    {
        var hash = new XxHash3();
        var piece = new byte[PieceBytes];
        foreach (var buffer in new[] { rank.Tensors.O, rank.Tensors.Lse })
        {
            for (long offset = 0; offset < buffer.Bytes; offset += PieceBytes)
            {
                var span = piece.AsSpan(0, (int)Math.Min(PieceBytes, buffer.Bytes - offset));
                backend.Download(buffer, offset, span);
                hash.Append(span);
            }
        }
        return Convert.ToHexStringLower(hash.GetCurrentHash());
    }
}
