"""Selective scan (Mamba's S6 recurrence): a readable reference, a fast CPU kernel, mamba-ssm on CUDA.

All three take mamba-ssm's argument contract (``mamba_ssm.ops.selective_scan_interface``)::

    u:          (B, D, L)   input sequence, D channels ("d_inner"), L steps
    delta:      (B, D, L)   step sizes Δ (before ``delta_bias`` / softplus when those are asked for)
    A:          (D, N)      real state matrix (diagonal per channel), N = d_state; negative for stability
    B, C:       (B, N, L)   input-dependent projections, shared by all channels, or
                (B, G, N, L) G groups, channel d uses group d // (D // G), or
                (D, N)      time-invariant (reference only; the fast path defers to it)
    D:          (D,)        optional skip: y += D * u
    z:          (B, D, L)   optional gate:  y *= silu(z)
    delta_bias: (D,)        optional, added to delta before the softplus
    returns     out (B, D, L) in u's dtype, and with ``return_last_state`` also the final state
                h_L (B, D, N) in float32 (float64 for float64 inputs).

Recurrence per batch b, channel d, state n, step t (h_{-1} = 0)::

    Δ_t  = softplus(delta_t + delta_bias)        (or delta_t)
    h_t  = exp(Δ_t · A[d, n]) · h_{t-1} + Δ_t · u_t · B_t[n]
    y_t  = Σ_n h_t[n] · C_t[n]  (+ D[d] · u_t)   (· silu(z_t))

Operation count (what :mod:`eventar.energy` prices; all real-valued, so MAC-priced), see
:func:`scan_op_count`: per step and (b, d) one multiply Δ·u, then per state n one multiply Δ·A,
one exponential, two multiply-adds for the state update (exp·h + (Δu)·B) and one multiply-add
for the read-out: B·D·L·(3N + 1) MACs (N multiplies counted as MACs too) and B·D·L·N
exponentials, plus B·D·L MACs for ``D`` and B·D·L (multiply + sigmoid) for ``z``.
The backward pass costs about twice the forward.

Inputs in float16 / bfloat16 are computed in float32 (mamba-ssm's float32 accumulation) and the
output is cast back; float64 inputs are computed in float64.
"""

from __future__ import annotations

import math
import warnings
from typing import Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ..errors import EventarError

__all__ = [
    "selective_scan",
    "selective_scan_ref",
    "selective_scan_cpu",
    "scan_op_count",
    "mamba_ssm_available",
]

Tensor = torch.Tensor
ScanOut = Union[Tensor, Tuple[Tensor, Tensor]]


# --------------------------------------------------------------------------------------------
# argument checks shared by every path
# --------------------------------------------------------------------------------------------

def _check(u, delta, A, B, C, D, z, delta_bias) -> None:
    def bad(field, got, want):
        raise EventarError(f"selective_scan: {field} has shape {tuple(got.shape)}, expected {want}")

    if u.dim() != 3:
        bad("u", u, "(batch, channels, length)")
    nb, nd, nl = u.shape
    if tuple(delta.shape) != (nb, nd, nl):
        bad("delta", delta, f"({nb}, {nd}, {nl}) like u")
    if A.dim() != 2 or A.shape[0] != nd:
        bad("A", A, f"({nd}, d_state)")
    if A.is_complex():
        raise EventarError("selective_scan: complex A is not supported (real S4D/Mamba A only)")
    ns = A.shape[1]
    for name, m in (("B", B), ("C", C)):
        if m.dim() == 2:
            if tuple(m.shape) != (nd, ns):
                bad(name, m, f"({nd}, {ns}) time-invariant")
        elif m.dim() == 3:
            if tuple(m.shape) != (nb, ns, nl):
                bad(name, m, f"({nb}, {ns}, {nl})")
        elif m.dim() == 4:
            if m.shape[0] != nb or m.shape[2] != ns or m.shape[3] != nl or nd % m.shape[1]:
                bad(name, m, f"({nb}, groups dividing {nd}, {ns}, {nl})")
        else:
            bad(name, m, "(B, N, L), (B, G, N, L) or (D, N)")
    if D is not None and tuple(D.shape) != (nd,):
        bad("D", D, f"({nd},)")
    if delta_bias is not None and tuple(delta_bias.shape) != (nd,):
        bad("delta_bias", delta_bias, f"({nd},)")
    if z is not None and tuple(z.shape) != (nb, nd, nl):
        bad("z", z, f"({nb}, {nd}, {nl}) like u")


def _compute_dtype(u: Tensor) -> torch.dtype:
    return torch.float64 if u.dtype == torch.float64 else torch.float32


def _finish(y: Tensor, u: Tensor, D, z, dtype_in, last, return_last_state) -> ScanOut:
    """Skip term, gate and output cast of the reference (autograd)."""
    cd = y.dtype
    if D is not None:
        y = y + u.to(cd) * D.to(cd)[:, None]
    if z is not None:
        y = y * F.silu(z.to(cd))
    y = y.to(dtype_in)
    return (y, last) if return_last_state else y


def _prepare_delta(delta: Tensor, delta_bias, delta_softplus: bool, cd: torch.dtype) -> Tensor:
    delta = delta.to(cd)
    if delta_bias is not None:
        delta = delta + delta_bias.to(cd)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    return delta


# --------------------------------------------------------------------------------------------
# reference
# --------------------------------------------------------------------------------------------

def selective_scan_ref(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Optional[Tensor] = None,
    z: Optional[Tensor] = None,
    delta_bias: Optional[Tensor] = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> ScanOut:
    """Sequential selective scan in plain PyTorch: the readable definition the other paths match.

    Shapes and semantics are in the module docstring (mamba-ssm's contract): u, delta, z
    (B, D, L); A (D, N); B, C (B, N, L), (B, G, N, L) or (D, N); D, delta_bias (D,).
    Returns out (B, D, L) in u's dtype (and the final state (B, D, N), float32/float64).

    The loop walks ``unbind`` views, so autograd's backward stays linear in L (indexing
    ``x[:, :, t]`` inside the loop, as mamba-ssm's own reference does, makes it quadratic).
    Runs on any device; it is the CUDA fallback when mamba-ssm is absent.
    """
    _check(u, delta, A, B, C, D, z, delta_bias)
    dtype_in = u.dtype
    cd = _compute_dtype(u)
    nb, nd, nl = u.shape
    dt = _prepare_delta(delta, delta_bias, delta_softplus, cd)
    uu = u.to(cd)
    a = A.to(cd)

    def steps(m: Tensor):
        # yields, per step, a tensor broadcastable to the state (B, D, N)
        m = m.to(cd)
        if m.dim() == 2:  # (D, N) time-invariant
            for _ in range(nl):
                yield m
        elif m.dim() == 3:  # (B, N, L): shared by all channels
            for mt in m.unbind(-1):
                yield mt[:, None, :]
        else:  # (B, G, N, L): channel d reads group d // (D // G)
            rep = nd // m.shape[1]
            for mt in m.unbind(-1):
                yield mt.repeat_interleave(rep, dim=1)

    h = u.new_zeros((nb, nd, a.shape[1]), dtype=cd)
    ys = []
    for dt_t, u_t, b_t, c_t in zip(dt.unbind(-1), uu.unbind(-1), steps(B), steps(C)):
        h = torch.exp(dt_t[..., None] * a) * h + (dt_t * u_t)[..., None] * b_t
        ys.append((h * c_t).sum(-1))
    y = torch.stack(ys, dim=-1) if ys else uu.new_zeros((nb, nd, 0))
    return _finish(y, u, D, z, dtype_in, h, return_last_state)


# --------------------------------------------------------------------------------------------
# fast CPU path: numba kernels (one pass per (batch, channel) row, glue fused), hand-written backward
# --------------------------------------------------------------------------------------------

_KERNELS = None


def _kernels():
    """The numba kernels (:mod:`eventar.nn._scan_cpu`), compiled or loaded from numba's cache on first use."""
    global _KERNELS
    if _KERNELS is None:
        import numba

        from . import _scan_cpu

        _KERNELS = (_scan_cpu.fwd, _scan_cpu.bwd, numba, _scan_cpu.LANES, _scan_cpu.NEAR_LIMIT)
    return _KERNELS


def _n_chunks(nb: int, nd: int, numba) -> int:
    """Channel chunks per batch row: enough work items to keep every thread busy."""
    return max(1, min(nd, -(-4 * numba.get_num_threads() // nb)))


def _to_np(t: Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


def _np_or(t: Optional[Tensor], dummy_shape, dtype) -> np.ndarray:
    return np.zeros(dummy_shape, dtype=dtype) if t is None else _to_np(t)


def _kernel_consts(A: Tensor, nsp: int, npd, near) -> Tuple[np.ndarray, np.ndarray]:
    """A·log2(e) zero-padded to (D, nsp) (the kernels compute exp(Δ·A) as 2^(Δ·A·log2 e)) and the
    kernels' constants [NEAR_LIMIT, ln 2] in the compute dtype."""
    a2 = np.zeros((A.shape[0], nsp), dtype=npd)
    a2[:, :A.shape[1]] = _to_np(A.to(torch.float64)) * math.log2(math.e)
    return a2, np.array([near[np.dtype(npd)], math.log(2.0)], dtype=npd)


class _ScanFused(torch.autograd.Function):
    """The whole fast path as one autograd node (numba ``fwd`` / ``bwd``).

    Inputs (one float dtype, CPU): u, delta (B, D, L); A (D, N); Bg, Cg (B, G, L, NP) with NP =
    N padded to a multiple of 16 by zeros; D, delta_bias (D,) or None; z (B, D, L) or None;
    softplus (bool).  Outputs: y = (C·h + D·u)·silu(z) (B, D, L) and the last state (B, D, N).
    Saves only its inputs and, when z is given, o = C·h + D·u (B, D, L) for dz.
    """

    @staticmethod
    def forward(ctx, u, delta, A, Bg, Cg, D, z, bias, softplus):
        fwd, _, numba, lanes, near = _kernels()
        nb, nd, nl = u.shape
        ns, nsp = A.shape[1], Bg.shape[-1]
        npd = _to_np(u).dtype
        a2, kc = _kernel_consts(A, nsp, npd, near)
        flags = np.array([softplus, D is not None, z is not None, bias is not None, z is not None], dtype=np.int8)
        y = np.empty((nb, nd, nl), dtype=npd)
        last = np.empty((nb, nd, nsp), dtype=npd)
        ov = np.empty((nb, nd, nl) if z is not None else (1, 1, 1), dtype=npd)
        nch = _n_chunks(nb, nd, numba)
        nw = nb * nch
        fwd(_to_np(u), _to_np(delta), a2, _to_np(Bg), _to_np(Cg), _np_or(D, 1, npd),
            _np_or(z, (1, 1, 1), npd), _np_or(bias, 1, npd), flags, kc, nch, y, last, ov,
            np.empty((nw, nl), dtype=npd), np.empty((nw, nl), dtype=npd),
            np.empty((nw, nsp // lanes, nl), dtype=npd), np.empty((nw, lanes), dtype=npd))
        ctx.save_for_backward(u, delta, A, Bg, Cg, D, z, bias)
        ctx.o = ov
        ctx.softplus = bool(softplus)
        if nsp != ns:
            last = np.ascontiguousarray(last[:, :, :ns])
        return torch.from_numpy(y), torch.from_numpy(last)

    @staticmethod
    @once_differentiable
    def backward(ctx, gy, glast):
        _, bwd, numba, lanes, near = _kernels()
        u, delta, A, Bg, Cg, D, z, bias = ctx.saved_tensors
        nb, nd, nl = u.shape
        ng, nsp, ns = Bg.shape[1], Bg.shape[-1], A.shape[1]
        npd = _to_np(u).dtype
        a2, kc = _kernel_consts(A, nsp, npd, near)
        gl = np.zeros((nb, nd, nsp), dtype=npd)
        if glast is not None:
            gl[:, :, :ns] = _to_np(glast.to(u.dtype))
        gyn = np.zeros((nb, nd, nl), dtype=npd) if gy is None else _to_np(gy.to(u.dtype))
        flags = np.array([ctx.softplus, D is not None, z is not None, bias is not None, 0], dtype=np.int8)
        nch = _n_chunks(nb, nd, numba)
        du = np.empty((nb, nd, nl), dtype=npd)
        ddelta = np.empty((nb, nd, nl), dtype=npd)
        dz = np.empty((nb, nd, nl) if z is not None else (1, 1, 1), dtype=npd)
        dA_part = np.empty((nb, nd, nsp), dtype=npd)
        dB_part = np.zeros((nb, nch, ng, nl, nsp), dtype=npd)  # accumulated by the kernel
        dC_part = np.zeros((nb, nch, ng, nl, nsp), dtype=npd)
        dD_part = np.empty((nb, nd), dtype=npd)
        dbias_part = np.empty((nb, nd), dtype=npd)
        nw = nb * nch
        bwd(_to_np(u), _to_np(delta), a2, _to_np(Bg), _to_np(Cg), _np_or(D, 1, npd),
            _np_or(z, (1, 1, 1), npd), _np_or(bias, 1, npd), ctx.o, flags, kc, nch, gyn, gl,
            du, ddelta, dz, dA_part, dB_part, dC_part, dD_part, dbias_part,
            *(np.empty((nw, nl), dtype=npd) for _ in range(4)),
            *(np.empty((nw, nsp // lanes, nl), dtype=npd) for _ in range(2)),
            *(np.empty((nw, nl, lanes), dtype=npd) for _ in range(2)),
            *(np.empty((nw, lanes), dtype=npd) for _ in range(3)))
        dB = dB_part[:, 0] if nch == 1 else dB_part.sum(1)
        dC = dC_part[:, 0] if nch == 1 else dC_part.sum(1)
        return (
            torch.from_numpy(du),
            torch.from_numpy(ddelta),
            torch.from_numpy(np.ascontiguousarray(dA_part[:, :, :ns].sum(0))),
            torch.from_numpy(dB),
            torch.from_numpy(dC),
            None if D is None else torch.from_numpy(dD_part.sum(0)),
            None if z is None else torch.from_numpy(dz),
            None if bias is None else torch.from_numpy(dbias_part.sum(0)),
            None,
        )


def _grouped(m: Tensor, cd: torch.dtype, nsp: int) -> Tensor:
    """(B, N, L) or (B, G, N, L) -> (B, G, L, NP) contiguous in the compute dtype, the state axis
    zero-padded to ``nsp`` (autograd-tracked)."""
    if m.dim() == 3:
        m = m[:, None]
    m = m.to(cd).transpose(-1, -2)
    if nsp != m.shape[-1]:
        m = F.pad(m, (0, nsp - m.shape[-1]))
    return m.contiguous()


def selective_scan_cpu(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Optional[Tensor] = None,
    z: Optional[Tensor] = None,
    delta_bias: Optional[Tensor] = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> ScanOut:
    """Fast CPU selective scan: numba kernels, parallel over (batch, channel chunk) work items,
    that compute softplus(Δ + bias), the scan, D·u and the silu(z) gate in one pass per row,
    with a hand-written backward that recomputes each row's states instead of storing (B, D, L, N).

    Same contract and results as :func:`selective_scan_ref` (shapes in the module docstring);
    differentiable in every tensor argument. Memory: O(B·D·L) plus O(L·N) per work item.
    d_state is padded to a multiple of 16 inside (zero states, no effect on the result except that
    a non-finite Δ may give NaN where the reference gives ±inf).
    Time-invariant B/C of shape (D, N) are not handled by the kernel and go to the reference.
    """
    _check(u, delta, A, B, C, D, z, delta_bias)
    if u.device.type != "cpu":
        raise EventarError(f"selective_scan_cpu: tensors must be on the CPU, got {u.device}")
    if B.dim() == 2 or C.dim() == 2:
        return selective_scan_ref(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
    if B.dim() != C.dim() or (B.dim() == 4 and B.shape[1] != C.shape[1]):
        # the kernel shares one group index for B and C; expand the coarser one
        gb = 1 if B.dim() == 3 else B.shape[1]
        gc = 1 if C.dim() == 3 else C.shape[1]
        ng = math.lcm(gb, gc)
        B = _expand_groups(B, ng)
        C = _expand_groups(C, ng)
    lanes = _kernels()[3]
    dtype_in = u.dtype
    cd = _compute_dtype(u)
    nsp = -(-A.shape[1] // lanes) * lanes

    def opt(t):
        return None if t is None else t.to(cd)

    y, last = _ScanFused.apply(u.to(cd), delta.to(cd), A.to(cd), _grouped(B, cd, nsp), _grouped(C, cd, nsp),
                               opt(D), opt(z), opt(delta_bias), bool(delta_softplus))
    y = y.to(dtype_in)
    return (y, last) if return_last_state else y


def _expand_groups(m: Tensor, ng: int) -> Tensor:
    if m.dim() == 3:
        m = m[:, None]
    return m.repeat_interleave(ng // m.shape[1], dim=1)


# --------------------------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------------------------

_MAMBA_SSM = None  # None = not looked up yet, False = unavailable, else selective_scan_fn
_WARNED_CUDA_FALLBACK = False


def _mamba_ssm_scan():
    """mamba-ssm's fused CUDA ``selective_scan_fn``, imported on first CUDA use; None when absent."""
    global _MAMBA_SSM
    if _MAMBA_SSM is None:
        try:
            from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
        except Exception:  # not installed, or built without its CUDA extension
            _MAMBA_SSM = False
        else:
            _MAMBA_SSM = selective_scan_fn
    return _MAMBA_SSM or None


def mamba_ssm_available() -> bool:
    """True when mamba-ssm's fused CUDA selective scan can be imported (imports it if so)."""
    return _mamba_ssm_scan() is not None


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Optional[Tensor] = None,
    z: Optional[Tensor] = None,
    delta_bias: Optional[Tensor] = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
    backend: str = "auto",
) -> ScanOut:
    """Selective scan with the best available implementation (contract in the module docstring).

    ``backend``: ``"auto"`` = mamba-ssm's fused kernel for CUDA tensors when mamba-ssm is
    installed (imported lazily, only here), the reference loop for CUDA tensors otherwise
    (with a one-time warning), and the numba kernel (:func:`selective_scan_cpu`) on the CPU;
    ``"ref"``, ``"cpu"`` or ``"mamba_ssm"`` force one.

    Returns out (B, D, L) in u's dtype, plus the final state (B, D, N) with ``return_last_state``.
    """
    global _WARNED_CUDA_FALLBACK
    args = (u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
    if backend == "ref":
        return selective_scan_ref(*args)
    if backend == "cpu":
        return selective_scan_cpu(*args)
    if backend == "mamba_ssm" or (backend == "auto" and u.is_cuda):
        fn = _mamba_ssm_scan()
        if fn is not None and u.is_cuda:
            _check(u, delta, A, B, C, D, z, delta_bias)
            return fn(*args)
        if backend == "mamba_ssm":
            raise EventarError("selective_scan: backend 'mamba_ssm' needs mamba-ssm installed "
                               "(pip install eventar[mamba]) and CUDA tensors")
        if not _WARNED_CUDA_FALLBACK:
            warnings.warn("mamba-ssm is not installed: the selective scan on CUDA uses the "
                          "(slow) reference loop; pip install eventar[mamba] for the fused kernel",
                          RuntimeWarning, stacklevel=2)
            _WARNED_CUDA_FALLBACK = True
        return selective_scan_ref(*args)
    if backend != "auto":
        raise EventarError(f"selective_scan: backend must be 'auto', 'ref', 'cpu' or 'mamba_ssm', "
                           f"got {backend!r}")
    return selective_scan_cpu(*args)


def scan_op_count(batch: int, d_inner: int, length: int, d_state: int,
                  has_D: bool = True, has_z: bool = True) -> dict:
    """Operations of one selective-scan forward (module docstring): ``{'mac': int, 'exp': int}``.

    mac = B·D·L·(3N + 1) (+ B·D·L for D, + B·D·L for the z gate's multiply); exp = B·D·L·N
    (+ B·D·L sigmoids for silu(z)).  Units: operation counts (price them in pJ per op).
    """
    rows = batch * d_inner * length
    mac = rows * (3 * d_state + 1) + (rows if has_D else 0) + (rows if has_z else 0)
    exp = rows * d_state + (rows if has_z else 0)
    return {"mac": int(mac), "exp": int(exp)}
