using System.Diagnostics;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using RingAttention.Inputs;
using RingAttention.Reference;

namespace RingAttention.Bench;

/// <summary>
/// The ONNX Runtime peer: a one-node model built in code and run on ORT's CPU provider with the kernel's thread
/// count. Full attention uses <c>com.microsoft</c> MultiHeadAttention and causal attention GroupQueryAttention, the
/// two operators whose CPU implementations take MLAS's flash path (MultiHeadAttention with a causal mask and the ONNX
/// <c>Attention</c> operator materialise N×N scores instead). Every case is checked against the float64 reference on
/// sampled rows before it is timed: a peer that computes something else is reported as failed, not timed.
/// </summary>
internal static class OrtPeer
{
    public const string Name = "ONNX Runtime";

    private const string Path = "com.microsoft MultiHeadAttention (full) / GroupQueryAttention (causal), MLAS flash";

    public static (PeerInfo Info, List<PeerResult> Results) Run(IEnumerable<KernelResult> fp32Cases, int repeats)
    {
        var results = new List<PeerResult>();
        string version;
        try
        {
            version = OrtEnv.Instance().GetVersionString();
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or OnnxRuntimeException)
        {
            return (new PeerInfo(Name, false, $"absent: ONNX Runtime could not be loaded: {e.Message}"), results);
        }
        foreach (var c in fp32Cases)
        {
            var options = new AttentionOptions { Heads = c.Heads, HeadDim = c.HeadDim, Causal = c.Causal };
            using var peer = new OrtAttention(options, c.N, c.Threads);
            double error = peer.MaxErrorAgainstReference();
            if (!(error <= 1e-4))
            {
                return (new PeerInfo(Name, false, $"failed: ONNX Runtime {version} ({Path}) is off by {error:E2} at N={c.N} D={c.HeadDim} causal={c.Causal}"), results);
            }
            double best = Enumerable.Range(0, repeats + 1).Select(_ => peer.Time()).Skip(1).Min();   // the first run pays for set-up
            results.Add(new PeerResult(Name, c.N, c.Heads, c.HeadDim, c.Causal, c.Threads, best, options.ForwardFlops(c.N) / best / 1e9));
        }
        return (new PeerInfo(Name, true, $"ONNX Runtime {version}, {Path}, fp32, verified against float64 before timing"), results);
    }

    /// <summary>One shape's session and inputs (batch 1, [1, N, H·D] tensors as the contrib operators take them).</summary>
    private sealed class OrtAttention : IDisposable
    {
        private const ulong Seed = 11;
        private readonly AttentionOptions _options;
        private readonly int _n;
        private readonly CounterRandomSource _source;
        private readonly InferenceSession _session;
        private readonly SessionOptions _sessionOptions;
        private readonly List<NamedOnnxValue> _inputs;
        private float[] _output = [];

        public OrtAttention(AttentionOptions options, int n, int threads)
        {
            (_options, _n) = (options, n);
            _source = new CounterRandomSource(Seed, options, n);
            _sessionOptions = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
            _session = new InferenceSession(Model(options, n).ToByteArray(), _sessionOptions);
            int width = options.Heads * options.HeadDim;
            _inputs =
            [
                NamedOnnxValue.CreateFromTensor("q", new DenseTensor<float>(Rows(QkvTensor.Q), [1, n, width])),
                NamedOnnxValue.CreateFromTensor("k", new DenseTensor<float>(Rows(QkvTensor.K), [1, n, width])),
                NamedOnnxValue.CreateFromTensor("v", new DenseTensor<float>(Rows(QkvTensor.V), [1, n, width])),
            ];
            if (options.Causal)
            {
                _inputs.Add(NamedOnnxValue.CreateFromTensor("seqlens_k", new DenseTensor<int>(new[] { n - 1 }, [1])));
                _inputs.Add(NamedOnnxValue.CreateFromTensor("total_sequence_length", new DenseTensor<int>(new[] { n }, ReadOnlySpan<int>.Empty)));
            }
        }

        /// <summary>Seconds of one run.</summary>
        public double Time()
        {
            long start = Stopwatch.GetTimestamp();
            using var outputs = _session.Run(_inputs);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            _output = outputs[0].AsTensor<float>().ToArray();
            return seconds;
        }

        /// <summary>Runs once and returns the largest |O − O₆₄| over a few sampled rows (first, middle, last).</summary>
        public double MaxErrorAgainstReference()
        {
            Time();
            int h = _options.Heads, d = _options.HeadDim;
            var rows = new[] { 0, _n / 3, _n - 1 }.Distinct().Select(p => (Batch: 0, Position: p)).ToList();
            double error = 0;
            foreach (var row in StreamingReference64.Compute(_options, _source, rows, Environment.ProcessorCount))
            {
                for (int i = 0; i < h * d; i++)
                {
                    error = Math.Max(error, Math.Abs(row.O[i] - _output[(long)row.Position * h * d + i]));
                }
            }
            return error;
        }

        public void Dispose()
        {
            _session.Dispose();
            _sessionOptions.Dispose();
        }

        private float[] Rows(QkvTensor tensor)
        {
            int width = _options.Heads * _options.HeadDim;
            var values = new float[(long)_n * width];
            for (int p = 0; p < _n; p++)
            {
                _source.ReadRow(tensor, 0, p, values.AsSpan(p * width, width));
            }
            return values;
        }

        private static ModelProto Model(AttentionOptions options, int n)
        {
            long width = options.Heads * options.HeadDim;
            var node = new NodeProto { Domain = "com.microsoft", Name = "attention", Input = { "q", "k", "v" }, Output = { "o" } };
            node.Attribute.Add(new AttributeProto { Name = "num_heads", Type = AttributeProto.Types.AttributeType.Int, I = options.Heads });
            node.Attribute.Add(new AttributeProto { Name = "scale", Type = AttributeProto.Types.AttributeType.Float, F = (float)options.EffectiveSoftmaxScale });
            var graph = new GraphProto { Name = "attention", Node = { node }, Output = { Tensor("o", TensorProto.Types.DataType.Float, 1, n, width) } };
            foreach (string name in new[] { "q", "k", "v" })
            {
                graph.Input.Add(Tensor(name, TensorProto.Types.DataType.Float, 1, n, width));
            }
            if (options.Causal)
            {
                // GroupQueryAttention is causal by definition; no past K/V, the whole sequence in one call.
                node.OpType = "GroupQueryAttention";
                node.Attribute.Add(new AttributeProto { Name = "kv_num_heads", Type = AttributeProto.Types.AttributeType.Int, I = options.Heads });
                node.Input.Add(["", "", "seqlens_k", "total_sequence_length"]);
                node.Output.Add(["present_key", "present_value"]);
                graph.Input.Add(Tensor("seqlens_k", TensorProto.Types.DataType.Int32, 1));
                graph.Input.Add(Tensor("total_sequence_length", TensorProto.Types.DataType.Int32));
            }
            else
            {
                node.OpType = "MultiHeadAttention";
            }
            return new ModelProto
            {
                IrVersion = 8,
                Graph = graph,
                OpsetImport = { new OperatorSetIdProto { Domain = "", Version = 17 }, new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 } },
            };
        }

        private static ValueInfoProto Tensor(string name, TensorProto.Types.DataType type, params long[] dims)
        {
            var shape = new TensorShapeProto();
            foreach (long dim in dims)
            {
                shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = dim });
            }
            return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } } };
        }
    }
}
