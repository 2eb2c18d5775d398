namespace RingAttention.Decode;

/// <summary>What one rank did in one decode step.</summary>
/// <param name="Rank">The rank.</param>
/// <param name="CacheLength">Tokens in the rank's cache during the step (its share of this step's tokens included).</param>
/// <param name="CacheBytesRead">Bytes of K and V the local kernel read: every cached row once.</param>
/// <param name="KernelSeconds">Appending this step's tokens and the local split-KV kernel.</param>
/// <param name="MergeSeconds">This rank's part of the merge: posting the collective, waiting for it and combining the partials.</param>
public sealed record DecodeStepReport(int Rank, int CacheLength, long CacheBytesRead, double KernelSeconds, double MergeSeconds);
