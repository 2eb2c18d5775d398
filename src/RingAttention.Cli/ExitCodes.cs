namespace RingAttention.Cli;

/// <summary>Process exit codes of <c>ringattn</c>, and the one place exceptions are mapped to them.</summary>
internal static class ExitCodes
{
    /// <summary>The command did what was asked (help and version included).</summary>
    public const int Ok = 0;

    /// <summary>The run finished but its outputs disagree with the float64 reference beyond the tolerance.</summary>
    public const int VerificationFailed = 1;

    /// <summary>Usage and input errors only: options, values, files the user named.</summary>
    public const int BadUsage = 2;

    /// <summary>A runtime failure on this rank (device, library, file system) or a peer that failed or fell silent.</summary>
    public const int Failed = 3;

    /// <summary>An internal error: a bug, not something the user did.</summary>
    public const int InternalError = 4;

    /// <summary>The exit code of a command ended by <paramref name="e"/>.</summary>
    public static int For(Exception e) => e switch
    {
        InvalidInputException or IO.TensorFileException => BadUsage,
        PeerFailureException or RuntimeFailureException => Failed,
        // Failures outside this process's code that the bindings report with their own types.
        IOException or UnauthorizedAccessException or TimeoutException or DllNotFoundException or Cuda.Native.CudaException or Cuda.Native.NvrtcException
            or Cuda.CudaUnavailableException or Mpi.MpiException or Nccl.NcclException => Failed,
        _ => InternalError,
    };
}
