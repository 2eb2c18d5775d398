namespace RingAttention.Ring;

/// <summary>
/// One rank's pass around the ring as a state machine <see cref="RingDriver"/> steps through: at each step the
/// exchange for the next step is posted, the data in hand is computed, then the exchange is awaited (ring-flash-
/// attention's post, compute, wait). The forward pass is one; backward and decode passes plug in the same way.
/// </summary>
public interface IRingPass
{
    /// <summary>Steps in the pass (the ring's size for forward).</summary>
    int Steps { get; }

    /// <summary>Resets the running state.</summary>
    void Start();

    /// <summary>Posts the exchange that brings what step <paramref name="step"/> + 1 needs (none at the last step).</summary>
    void PostExchange(int step);

    /// <summary>Runs the kernels of step <paramref name="step"/> on the data in hand.</summary>
    void Compute(int step);

    /// <summary>Waits for the step's exchange; what it received becomes the data in hand.</summary>
    void CompleteExchange(int step);

    /// <summary>Writes the pass's outputs and reports it.</summary>
    RankReport Finish();
}
