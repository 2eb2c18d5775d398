using RingAttention.Kernels;

namespace RingAttention.Ring;

/// <summary>A posted exchange, its bytes and the clock marks around its post.</summary>
internal readonly record struct PendingStep(IPendingExchange? Exchange, long Bytes, IClockMark? PostStart, IClockMark? PostEnd);
