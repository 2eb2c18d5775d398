using System.Runtime.InteropServices;
using RingAttention.Kernels;

namespace RingAttention.Tests.Backward;

/// <summary>
/// The byte layout of <see cref="FlashBackwardParams"/> that a C mirror must match: the shared Q, K, V part first
/// (3 pointers, 9 strides, 4 ints: 112 bytes), then the backward part, no padding anywhere.
/// </summary>
public sealed class BackwardParamsLayoutTests
{
    [Theory]
    [InlineData(nameof(FlashBackwardParams.Q), 0)]
    [InlineData(nameof(FlashBackwardParams.QBatchStride), 24)]
    [InlineData(nameof(FlashBackwardParams.Batch), 96)]
    [InlineData(nameof(FlashBackwardParams.HeadDim), 108)]
    [InlineData(nameof(FlashBackwardParams.O), 112)]
    [InlineData(nameof(FlashBackwardParams.DVAccum), 160)]
    [InlineData(nameof(FlashBackwardParams.OBatchStride), 168)]
    [InlineData(nameof(FlashBackwardParams.DVAccumHeadStride), 296)]
    [InlineData(nameof(FlashBackwardParams.SeqLenQ), 304)]
    [InlineData(nameof(FlashBackwardParams.ElementType), 340)]
    public void FieldOffsets(string field, int offset)
    {
        Assert.Equal(offset, (int)Marshal.OffsetOf<FlashBackwardParams>(field));
    }

    [Fact]
    public void SizeIsAMultipleOfEight()
    {
        Assert.Equal(344, Marshal.SizeOf<FlashBackwardParams>());
    }
}
