using RingAttention.Inputs;

namespace RingAttention.Cli;

/// <summary>Chooses where Q, K and V come from.</summary>
internal static class InputSources
{
    public static ITensorSource Create(RunOptions run, AttentionOptions options) => new CounterRandomSource(run.Seed, options, run.SequenceLength);
}
