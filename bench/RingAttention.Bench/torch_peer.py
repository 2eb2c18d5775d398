"""PyTorch peer for the RingAttention bench: fp32 attention as matmul + softmax + matmul (PyTorch 1.13 has no
scaled_dot_product_attention), queries in chunks so the score matrix stays small, causal chunks only against the
keys they can see. A case with "backward": true times autograd's backward of that attention instead: the forward
runs untimed, then out.backward(dO) alone is timed (autograd keeps every chunk's probabilities, N x N x H fp32).
Reads a JSON list of cases on stdin, writes one JSON object with the results on stdout."""
import json
import os
import sys
import time


def blas_libraries():
    """The BLAS libraries this process mapped (Debian's torch uses the system libblas.so.3 alternative)."""
    names = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "blas" in os.path.basename(path).lower():
                names.add(os.path.realpath(path))
    return sorted(names)


def attention(torch, q, k, v, causal, chunk=1024):
    heads, n, d = q.shape
    scale = d ** -0.5
    out = torch.empty_like(q)
    for start in range(0, n, chunk):
        end = min(n, start + chunk)
        keys = end if causal else n
        scores = torch.matmul(q[:, start:end], k[:, :keys].transpose(1, 2))
        scores.mul_(scale)
        if causal:
            rows = torch.arange(start, end).unsqueeze(1)
            cols = torch.arange(keys).unsqueeze(0)
            scores.masked_fill_(cols > rows, float("-inf"))
        torch.matmul(torch.softmax(scores, dim=-1), v[:, :keys], out=out[:, start:end])
    return out


def attention_autograd(torch, q, k, v, causal, chunk=1024):
    """The same chunked attention without in-place or out= operations, so autograd can differentiate it."""
    heads, n, d = q.shape
    scale = d ** -0.5
    outs = []
    for start in range(0, n, chunk):
        end = min(n, start + chunk)
        keys = end if causal else n
        scores = torch.matmul(q[:, start:end], k[:, :keys].transpose(1, 2)) * scale
        if causal:
            rows = torch.arange(start, end).unsqueeze(1)
            cols = torch.arange(keys).unsqueeze(0)
            scores = scores.masked_fill(cols > rows, float("-inf"))
        outs.append(torch.matmul(torch.softmax(scores, dim=-1), v[:, :keys]))
    return torch.cat(outs, dim=1)


def time_backward(torch, q, k, v, grad, causal, repeats):
    """Best time of out.backward(grad) over the repeats; each forward runs untimed just before its backward."""
    best = float("inf")
    for _ in range(repeats):
        for tensor in (q, k, v):
            tensor.grad = None
        out = attention_autograd(torch, q, k, v, causal)
        start = time.perf_counter()
        out.backward(grad)
        best = min(best, time.perf_counter() - start)
        del out
    return best


def main():
    cases = json.load(sys.stdin)
    try:
        import torch
    except Exception as error:  # noqa: BLE001 - any import failure means "no peer"
        print(json.dumps({"available": False, "description": f"import torch failed: {error}"}))
        return
    results = []
    for case in cases:
        torch.set_num_threads(case["threads"])
        generator = torch.Generator().manual_seed(1)
        shape = (case["heads"], case["n"], case["head_dim"])
        q, k, v = (torch.rand(shape, generator=generator) * 3.4641 - 1.7321 for _ in range(3))
        if case.get("backward", False):
            grad = torch.rand(shape, generator=generator) * 3.4641 - 1.7321
            q, k, v = (tensor.requires_grad_() for tensor in (q, k, v))
            small = tuple(tensor[:, :1024].detach().requires_grad_() for tensor in (q, k, v))
            time_backward(torch, *small, grad[:, :1024], case["causal"], 1)
            results.append(dict(case, seconds=time_backward(torch, q, k, v, grad, case["causal"], case["repeats"])))
            continue
        attention(torch, q[:, :1024], k[:, :1024], v[:, :1024], case["causal"])
        best = float("inf")
        for _ in range(case["repeats"]):
            start = time.perf_counter()
            attention(torch, q, k, v, case["causal"])
            best = min(best, time.perf_counter() - start)
        results.append(dict(case, seconds=best))
    description = f"PyTorch {torch.__version__} (matmul + softmax, fp32), BLAS: {', '.join(blas_libraries()) or 'unknown'}"
    print(json.dumps({"available": True, "description": description, "results": results}))


if __name__ == "__main__":
    main()
