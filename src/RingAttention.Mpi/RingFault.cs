using RingAttention.Ring;

namespace RingAttention.Mpi;

/// <summary>What an injected fault does.</summary>
public enum RingFaultKind
{
    /// <summary>Throw an exception (the rank fails cleanly: it reports and aborts the job).</summary>
    Throw,

    /// <summary>End the process at once with status <see cref="RingFault.ExitStatus"/>, without MPI_Finalize.</summary>
    Exit,

    /// <summary>Stop answering: block forever (the neighbours' exchange timeouts must end the job).</summary>
    Hang,

    /// <summary>Kill the process with SIGKILL (the launcher must end the job).</summary>
    Kill,
}

/// <summary>
/// A fault to inject into the ring of real ranks, for testing that every failure ends the whole job: read from
/// <see cref="Variable"/> as <c>rank=R,step=S,kind=throw|exit|hang|kill</c>; off when the variable is unset.
/// </summary>
/// <param name="Rank">The rank that fails.</param>
/// <param name="Step">The ring step at whose exchange it fails (0 to P − 2: the last step posts none), or P − 1: after the
/// last exchange, before the results are verified and gathered (see <see cref="AfterRing"/>).</param>
/// <param name="Kind">What it does.</param>
public sealed record RingFault(int Rank, int Step, RingFaultKind Kind)
{
    /// <summary>The environment variable that switches fault injection on.</summary>
    public const string Variable = "RINGATTN_FAULT";

    /// <summary>Exit status of an injected <see cref="RingFaultKind.Exit"/>.</summary>
    public const int ExitStatus = 17;

    /// <summary>The fault the environment asks for, or null.</summary>
    /// <exception cref="ArgumentException">The variable is set but malformed.</exception>
    public static RingFault? FromEnvironment() =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } text ? Parse(text) : null;

    /// <summary>Parses <c>rank=R,step=S,kind=K</c>.</summary>
    public static RingFault Parse(string text)
    {
        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int equals = part.IndexOf('=');
            if (equals <= 0)
            {
                throw Malformed(text);
            }
            fields[part[..equals].Trim()] = part[(equals + 1)..].Trim();
        }
        if (fields.Count != 3
            || !fields.TryGetValue("rank", out string? rank) || !int.TryParse(rank, out int r) || r < 0
            || !fields.TryGetValue("step", out string? step) || !int.TryParse(step, out int s) || s < 0
            || !fields.TryGetValue("kind", out string? kind) || !Enum.TryParse(kind, ignoreCase: true, out RingFaultKind k)
            || !Enum.IsDefined(k))
        {
            throw Malformed(text);
        }
        return new RingFault(r, s, k);
    }

    /// <summary>Wraps <paramref name="transport"/> so this fault fires at its exchange; checks it can fire in a ring of that size.</summary>
    public IRingTransport Inject(IRingTransport transport)
    {
        if (Rank >= transport.Size || Step > transport.Size - 1)
        {
            throw new ArgumentException(
                $"{Variable}: expected a rank from 0 to {transport.Size - 1} and a step from 0 to {transport.Size - 2} (the steps that exchange) or {transport.Size - 1} (after the last exchange), actual rank {Rank}, step {Step}",
                nameof(transport));
        }
        return transport.Rank == Rank ? new FaultyTransport(transport, this) : transport;
    }

    /// <summary>
    /// Called by rank <paramref name="rank"/> once its ring of <paramref name="size"/> ranks finished: a fault at step
    /// P − 1 fires here, so what the job waits for after the ring (verification, verdict, report) is tested too.
    /// </summary>
    public void AfterRing(int rank, int size)
    {
        if (rank == Rank && Step == size - 1)
        {
            Fire();
        }
    }

    private static ArgumentException Malformed(string text) =>
        new($"{Variable}: expected rank=R,step=S,kind=throw|exit|hang|kill, actual '{text}'");

    private void Fire()
    {
        string what = $"fault injected by {Variable}: rank {Rank}, step {Step}";
        switch (Kind)
        {
            case RingFaultKind.Throw:
                throw new RuntimeFailureException($"{what}: throw");
            case RingFaultKind.Exit:
                Console.Error.WriteLine($"{what}: exiting with status {ExitStatus} without MPI_Finalize");
                NativeLibc.ExitImmediately(ExitStatus);
                break;
            case RingFaultKind.Kill:
                Console.Error.WriteLine($"{what}: killing itself with SIGKILL");
                NativeLibc.Kill(Environment.ProcessId, NativeLibc.SigKill);
                break;
        }
        Console.Error.WriteLine($"{what}: hanging");
        Thread.Sleep(Timeout.Infinite);
    }

    private sealed class FaultyTransport(IRingTransport inner, RingFault fault) : IRingTransport
    {
        public string Name => inner.Name;

        public int Rank => inner.Rank;

        public int Size => inner.Size;

        public IPendingExchange PostExchange(ExchangeId id, RingMessage send, RingMessage receive)
        {
            if (id.Step == fault.Step)
            {
                fault.Fire();
            }
            return inner.PostExchange(id, send, receive);
        }

        public IPendingExchange PostAllReduce(nint buffer, long count, ReduceOperation operation) => inner.PostAllReduce(buffer, count, operation);

        public IPendingExchange PostGather(nint send, long bytes, nint receive) => inner.PostGather(send, bytes, receive);

        public IPendingExchange PostBarrier() => inner.PostBarrier();

        public void Dispose() => inner.Dispose();
    }
}
