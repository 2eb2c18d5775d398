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
    [InlineData(nameof(FlashBackwardParams.Qkv), 0)]
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

    [Theory]
    [InlineData(nameof(FlashQkvParams.Q), 0)]
    [InlineData(nameof(FlashQkvParams.QBatchStride), 24)]
    [InlineData(nameof(FlashQkvParams.Batch), 96)]
    [InlineData(nameof(FlashQkvParams.HeadDim), 108)]
    public void SharedPartOffsets(string field, int offset)
    {
        Assert.Equal(offset, (int)Marshal.OffsetOf<FlashQkvParams>(field));
        Assert.Equal(112, Marshal.SizeOf<FlashQkvParams>());
    }

    [Fact]
    public void SizeIsAMultipleOfEight()
    {
        Assert.Equal(344, Marshal.SizeOf<FlashBackwardParams>());
    }
}
