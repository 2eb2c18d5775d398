namespace RingAttention.Ring;

/// <summary>
/// Names one exchange among those in flight: the channel (an independent stream of exchanges, e.g. K/V on channel 0
/// and dK/dV on channel 1 in a backward pass) and the step of the pass. A send matches the receive with the same id.
/// </summary>
/// <param name="Channel">0 to <see cref="MaxChannels"/> − 1.</param>
/// <param name="Step">The step, at least 0.</param>
public readonly record struct ExchangeId(int Channel, int Step)
{
    /// <summary>Channels a transport distinguishes (MPI derives its tags from channel, step and region).</summary>
    public const int MaxChannels = 4;

    /// <summary>Regions one message may hold.</summary>
    public const int MaxRegions = 8;

    /// <summary>Step <paramref name="step"/> on channel 0, the forward pass's K/V channel.</summary>
    public static ExchangeId ForStep(int step) => new(0, step);

    /// <summary>Throws unless the channel is in range and the step is not negative.</summary>
    public void Validate()
    {
        Guard.InRange(Channel, 0, MaxChannels - 1, "id.Channel");
        Guard.AtLeast(Step, 0, "id.Step");
    }

    /// <inheritdoc />
    public override string ToString() => Channel == 0 ? $"step {Step}" : $"channel {Channel}, step {Step}";
}
