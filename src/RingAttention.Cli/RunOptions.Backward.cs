using CommandLine;

namespace RingAttention.Cli;

/// <summary>Options of <c>ringattn run</c> for the backward pass: whether it runs, where dO comes from and where the gradients go.</summary>
public sealed partial record RunOptions
{
    /// <summary>Run the backward after the forward.</summary>
    [Option("backward", HelpText = "After the forward, run the backward around the ring (dQ, dK, dV from dO, the forward's O and LSE) and verify dQ on sampled query rows and dK, dV on sampled key rows against float64 references.")]
    public bool Backward { get; init; }

    /// <summary>dO from a file; by default from the counter-based generator.</summary>
    [Option("dout", HelpText = "With --backward: dO from a .npy file or a .safetensors file (tensor 'do'), shaped like Q in --input-layout order and the run's dtype. Default: the counter-based generator (seed from --seed).")]
    public string? OutputGradFile { get; init; }

    /// <summary>Where dQ goes.</summary>
    [Option("dq-out", HelpText = "With --backward: write dQ to this .npy or .safetensors file (tensor 'dq'), like --out; replaced only once every rank succeeded and the gradients verified.")]
    public string? QueryGradOutputFile { get; init; }

    /// <summary>Where dK goes.</summary>
    [Option("dk-out", HelpText = "With --backward: write dK to this .npy or .safetensors file (tensor 'dk'), [batch, seq, kv_heads, head_dim] in --input-layout order.")]
    public string? KeyGradOutputFile { get; init; }

    /// <summary>Where dV goes.</summary>
    [Option("dv-out", HelpText = "With --backward: write dV to this .npy or .safetensors file (tensor 'dv'), like --dk-out.")]
    public string? ValueGradOutputFile { get; init; }
}
