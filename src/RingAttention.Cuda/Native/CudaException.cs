namespace RingAttention.Cuda.Native;

/// <summary>A CUDA driver call failed: carries the call's text, the status code and the driver's own message.</summary>
public sealed class CudaException : Exception
{
    /// <summary>Creates the exception for <paramref name="call"/> returning <paramref name="status"/>.</summary>
    public CudaException(CudaResult status, string call, string driverMessage)
        : base($"{call} failed: {status} ({(int)status}): {driverMessage}")
    {
        Status = status;
        Call = call;
    }

    /// <summary>The driver's status code.</summary>
    public CudaResult Status { get; }

    /// <summary>The failing call as written in the source.</summary>
    public string Call { get; }
}

/// <summary>An NVRTC call failed; a failed compilation carries NVRTC's log.</summary>
public sealed class NvrtcException : Exception
{
    /// <summary>Creates the exception for <paramref name="call"/> returning <paramref name="status"/>.</summary>
    public NvrtcException(NvrtcResult status, string call, string message, string? log = null)
        : base(log is null ? $"{call} failed: {status}: {message}" : $"{call} failed: {status}: {message}\n{log}")
    {
        Status = status;
        Call = call;
        Log = log;
    }

    /// <summary>NVRTC's status code.</summary>
    public NvrtcResult Status { get; }

    /// <summary>The failing call as written in the source.</summary>
    public string Call { get; }

    /// <summary>The compilation log, when the failure is a compilation.</summary>
    public string? Log { get; }
}
