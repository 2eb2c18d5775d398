using System.Runtime.CompilerServices;
using System.Text;

namespace RingAttention.Mpi;

/// <summary>An MPI call returned an error code; the message names the call and gives MPI's text for the code.</summary>
public sealed class MpiException : Exception
{
    /// <summary>Creates the exception for <paramref name="errorCode"/> returned by <paramref name="call"/>.</summary>
    public MpiException(int errorCode, string call)
        : base($"{call} failed with MPI error {errorCode}: {ErrorText(errorCode)}")
    {
        ErrorCode = errorCode;
        Call = call;
    }

    /// <summary>The MPI error code.</summary>
    public int ErrorCode { get; }

    /// <summary>The source text of the failing call.</summary>
    public string Call { get; }

    /// <summary>Throws unless <paramref name="status"/> is <c>MPI_SUCCESS</c>.</summary>
    public static void ThrowIfFailed(int status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != 0)
        {
            throw new MpiException(status, call);
        }
    }

    private static unsafe string ErrorText(int errorCode)
    {
        var text = new byte[MpiConstants.MaxErrorBytes];
        int length = 0;
        fixed (byte* p = text)
        {
            return NativeMpi.MPI_Error_string(errorCode, p, &length) == 0
                ? Encoding.UTF8.GetString(text, 0, Math.Clamp(length, 0, text.Length)).Trim()
                : "(no error text)";
        }
    }
}
