"""Counting synaptic operations and MACs of a model's forward pass with ``TorchDispatchMode``.

Every weight-bearing aten op (``convolution``, ``mm``, ``addmm``, ``bmm``, ``baddbmm``, ``mv``,
fused scaled-dot-product attention) is seen at the dispatcher, so functional calls
(``F.linear``, ``torch.matmul``, ``einsum`` in attention) are counted as well as modules.  Each op is
attributed to a row:

* an op with a model parameter as an operand is attributed to the module owning that parameter
  (``"fc1"``), so repeated calls (e.g. one per time step) add up in one row;
* an op between two activations (attention's ``Q·Kᵀ`` and ``A·V``) is attributed to the innermost
  module being run, plus the op name and its ordinal inside that module's forward
  (``"blocks.0.attn:bmm#0"``).

For every op the *activation* operand (the one that is not a parameter) is classified from its
values: ``binary`` (all values in {0, 1}: spikes), ``integer`` (whole numbers, e.g. a sum of two
spike trains) or ``real``.  Binary inputs are priced as accumulates (AC): a spike drives one
accumulate per synapse it reaches, so the count is the exact fan-out sum Σ_spikes fan_out(spike),
which for a linear layer equals nnz × out_features and for a convolution counts only the kernel taps
that land inside the output (no padded taps).  Integer inputs are priced as MACs by default
(conservative) or, with ``integer_inputs="ac"``, as |value|-weighted accumulates.  Real inputs are
priced as dense MACs (again counting in-bounds taps only).  Neuron modules (SpikingJelly
``BaseNode`` subclasses and anything with a ``v_threshold`` attribute, e.g. ``eventar.nn.LIF``)
are counted separately: state updates (one per neuron per time step) and output spikes.

The counts are exact sums over the whole forward pass, independent of tensor layout: a
time-first ``(T, B, ...)``, batch-first ``(B, T, ...)`` or folded ``(T·B, ...)`` model gives the
same totals; :mod:`eventar.energy.report` divides by the number of samples and time steps.
"""

from __future__ import annotations

import math
import sys
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

from ..errors import ConfigError

__all__ = ["OpRecord", "NeuronRecord", "OpCount", "EnergyCounter", "register_op_cost", "is_neuron_module"]

aten = torch.ops.aten

# kinds, from most to least sparse-friendly
BINARY, INTEGER, REAL = "binary", "integer", "real"


@dataclass
class OpRecord:
    """Counts of one row (layer or functional op), summed over every call and every sample.

    Attributes:
        name: row name (owning module, or ``module:op#k`` for activation × activation ops).
        module_type: class name of the owning module.
        op: ``linear`` (mm/addmm/mv with a weight), ``conv``, ``conv_transpose``, ``matmul``
            (activation × activation mm/bmm), ``attention`` (fused SDPA) or a registered op name.
        kinds: set of input kinds seen (``binary`` / ``integer`` / ``real``).
        input_shape: shape of the activation operand at the first call.
        calls: number of calls.
        dense_macs: MACs of a dense evaluation (in-bounds taps only), all calls.
        acs: AC-priced synaptic operations, all calls.
        macs: MAC-priced operations, all calls.
        nnz, numel: non-zero and total elements of the activation operand, all calls.
        nnz2, numel2: the same for the second activation operand of an activation × activation op.
    """

    name: str
    module_type: str
    op: str
    kinds: set = field(default_factory=set)
    input_shape: Tuple[int, ...] = ()
    calls: int = 0
    dense_macs: int = 0
    acs: float = 0.0
    macs: int = 0
    nnz: int = 0
    numel: int = 0
    nnz2: int = 0
    numel2: int = 0


@dataclass
class NeuronRecord:
    """State updates and output spikes of one neuron module, summed over calls and samples.

    Attributes:
        name, module_type: module name and class.
        updates: neuron state updates (output elements: one per neuron per time step per sample).
        spikes: non-zero output elements.
        step_spikes, step_numel: per-time-step sums when the output has the time axis, else empty.
    """

    name: str
    module_type: str
    updates: int = 0
    spikes: int = 0
    step_spikes: List[int] = field(default_factory=list)
    step_numel: List[int] = field(default_factory=list)


@dataclass
class OpCount:
    """What a registered cost function returns for one call of a custom op.

    Attributes:
        dense_macs: MACs of a dense evaluation of the call.
        macs: MAC-priced operations of the call.
        acs: AC-priced operations of the call.
        kind: input kind, ``binary`` / ``integer`` / ``real``.
        nnz, numel: non-zero and total elements of the op's activation input (for the rate column).
    """

    dense_macs: int
    macs: int = 0
    acs: float = 0.0
    kind: str = REAL
    nnz: int = 0
    numel: int = 0


_CUSTOM: Dict[Any, Tuple[str, Callable[..., OpCount]]] = {}


def register_op_cost(target: Any, counter: Callable[..., OpCount], name: Optional[str] = None) -> None:
    """Price a Python-level op that is not a single weight-bearing aten op (e.g. a selective scan).

    While counting, every call of ``target`` is recorded as one row entry with the
    :class:`OpCount` that ``counter(args, kwargs, out)`` returns, and the aten ops it runs
    internally are *not* counted (no double counting).

    Args:
        target: an ``nn.Module`` subclass (every instance is hooked; ``args`` are the forward's
            positional inputs) or a plain Python function (replaced, for the duration of the count,
            in its defining module and in every module defining one of the model's classes, wherever
            their namespace holds it by any name).
        counter: ``(args: tuple, kwargs: dict, out) -> OpCount``.
        name: the op name shown in the report (default: the target's ``__name__``).
    Raises:
        ConfigError: ``target`` is neither a module class nor a function.
    """
    if not (isinstance(target, type) and issubclass(target, nn.Module)) and not isinstance(target, types.FunctionType):
        raise ConfigError(f"register_op_cost: target must be an nn.Module subclass or a function, got {target!r}")
    _CUSTOM[target] = (name or target.__name__, counter)


def is_neuron_module(module: nn.Module) -> bool:
    """True for spiking-neuron layers: SpikingJelly ``BaseNode`` subclasses and modules with ``v_threshold``."""
    if hasattr(module, "v_threshold"):
        return True
    sj = sys.modules.get("spikingjelly.activation_based.neuron")
    base = getattr(sj, "BaseNode", None) if sj is not None else None
    return base is not None and isinstance(module, base)


def _storage_key(t: torch.Tensor) -> Optional[int]:
    try:
        return t.untyped_storage().data_ptr()
    except Exception:  # tensors without storage (meta, some subclasses)
        return None


def classify(x: torch.Tensor) -> Tuple[str, int, float]:
    """Classify an activation tensor: ``binary`` when every non-zero equals 1 (or one common constant,
    i.e. spikes scaled by a factor that folds into the weights), ``integer`` for whole numbers, else ``real``.

    Args:
        x: any-shape tensor.
    Returns:
        ``(kind, nnz, abs_sum)``: kind in {binary, integer, real}; number of non-zeros; Σ|x| (0 for real
        tensors, whose price does not use it).
    """
    if x.dtype == torch.bool:
        nnz = int(x.count_nonzero())
        return BINARY, nnz, float(nnz)
    if x.is_floating_point() and x.numel() > 0:
        # fast path for real-valued activations: a sample with a fractional value that is not one
        # common constant rules out binary / scaled-binary / integer without a full pass
        head = (x.reshape(-1) if x.is_contiguous() else x.flatten())[:1024]
        frac = head != torch.round(head)
        if bool(frac.any()):
            nzh = head[head != 0]
            if bool((nzh != nzh[0]).any()):
                return REAL, int(torch.count_nonzero(x)), 0.0
        if x.dtype in (torch.float32, torch.float64):
            spikes = _count_if_spikes(x)  # the common case (a spike tensor) in a few reductions
            if spikes is not None:
                return BINARY, spikes, float(spikes)
    nnz = int(torch.count_nonzero(x))
    if nnz == int(torch.count_nonzero(x == 1)):
        return BINARY, nnz, float(nnz)
    if nnz and x.is_floating_point():
        # spikes times one constant (e.g. attention's 1/sqrt(d) applied to Q and K): the constant folds
        # into the weights, so each non-zero is still one accumulate
        c = x.amax()
        if c <= 0:
            c = x.amin()
        if nnz == int(torch.count_nonzero(x == c)):
            return BINARY, nnz, float(nnz)
    if not x.is_floating_point() or bool((x == torch.round(x)).all()):
        return INTEGER, nnz, float(x.abs().sum(dtype=torch.float64))
    return REAL, nnz, 0.0


def exact_sum(x: torch.Tensor, dim=None) -> torch.Tensor:
    """Sum of ``x`` (over ``dim``, default all) in a float type that holds every partial sum of a
    {0, 1} tensor exactly and never rounds an element of ``x`` away: float32 for up to 2**24
    elements of at most float32 precision, float64 otherwise."""
    narrow = x.numel() <= 2**24 and x.dtype in (torch.float32, torch.float16, torch.bfloat16)
    dtype = torch.float32 if narrow else torch.float64
    return x.sum(dtype=dtype) if dim is None else x.sum(dim=dim, dtype=dtype)


def _count_if_spikes(x: torch.Tensor) -> Optional[int]:
    """The number of ones of a float32/float64 tensor whose values are all 0 or 1, else None.

    Four torch ops, floating-point reductions only (the general path takes about ten, and its
    comparisons and ``count_nonzero`` are slower per element on a CPU): min and max in [0, 1], then
    Σ (x − x²) = 0, with x − x² from one ``addcmul``.  Every term is ≥ 0 there and, in floating point
    too, > 0 for 0 < x < 1: x² rounds to at most x (to below x for x < 1), so x − x² is a positive
    difference (exact by Sterbenz's lemma for x ≥ 1/2, at least x/2 below), whether or not the
    multiply-add is fused.  A sum of non-negative terms is 0 only when every term is, so the sum is
    0 exactly when the tensor is binary; then the count is Σ x, exact in :func:`exact_sum`'s type.
    A silent layer (all zeros) costs one op.  NaN fails the range test.
    """
    lo, hi = (float(v) for v in torch.aminmax(x))
    if hi == 0.0 and lo == 0.0:
        return 0
    if not (lo >= 0.0 and hi <= 1.0):
        return None
    if float(exact_sum(torch.addcmul(x, x, x, value=-1.0))) != 0.0:
        return None
    return int(exact_sum(x))


def _ntuple(v, n):
    return tuple(v) if isinstance(v, (list, tuple)) else (v,) * n


class EnergyCounter(TorchDispatchMode):
    """Context manager counting one model's ops; read ``records`` and ``neurons`` afterwards.

    Args:
        model: the model to be run inside the context (hooks are added to its submodules and removed
            on exit).
        integer_inputs: ``"mac"`` (default) prices integer-valued inputs as dense MACs; ``"ac"`` as
            |value|-weighted accumulates.
        time_axis: axis of the time dimension in neuron outputs, for per-step neuron rates; None
            skips them.
        time_steps: number of time steps T (used with ``time_axis``).
    """

    def __init__(self, model: nn.Module, integer_inputs: str = "mac", time_axis: Optional[int] = None,
                 time_steps: Optional[int] = None):
        super().__init__()
        if integer_inputs not in ("mac", "ac"):
            raise ConfigError(f"integer_inputs must be 'mac' or 'ac', got {integer_inputs!r}")
        self.model = model
        self.integer_inputs = integer_inputs
        self.time_axis = time_axis
        self.time_steps = time_steps
        self.records: Dict[str, OpRecord] = {}
        self.neurons: Dict[str, NeuronRecord] = {}
        self._names = {m: (n or "(root)") for n, m in model.named_modules()}
        self._param_owner: Dict[int, str] = {}
        weights = list(model.named_parameters()) + [(n, b) for n, b in model.named_buffers() if b.is_floating_point()]
        for pname, p in weights:  # fixed weights kept as buffers are weights too
            key = _storage_key(p)
            if key is not None:
                self._param_owner.setdefault(key, pname.rpartition(".")[0] or "(root)")
        self._modules_by_name = {v: k for k, v in self._names.items()}
        self._stack: List[str] = []
        self._ordinals: List[Dict[str, int]] = []
        self._suppress = 0
        self._custom_nested: List[bool] = []
        self._handles: list = []
        self._patches: list = []
        self._fanout_cache: dict = {}
        self._class_cache: list = []

    # -- hooks ------------------------------------------------------------------------------------
    def _pre(self, module, args):
        self._stack.append(self._names[module])
        self._ordinals.append({})

    def _post(self, module, args, out):
        if self._stack:
            self._stack.pop()
            self._ordinals.pop()

    def _neuron_post(self, module, args, out):
        out = out[0] if isinstance(out, (tuple, list)) else out
        if not torch.is_tensor(out):
            return
        name = self._names[module]
        rec = self.neurons.get(name)
        if rec is None:
            rec = self.neurons[name] = NeuronRecord(name, type(module).__name__)
        with torch.no_grad(), _disable_current_modes():  # bookkeeping ops: not the model's, not dispatched
            rec.updates += out.numel()
            ax, T = self.time_axis, self.time_steps
            if ax is None and T and T > 1:
                ax = 0  # the model makes its own time steps; eventar's and SpikingJelly's neurons are time-first
            kind, nnz, _ = self._classify(out)
            if isinstance(ax, int) and T and out.dim() > ax and out.shape[ax] == T:
                dims = tuple(d for d in range(out.dim()) if d != ax)
                per_step = [0] * T if nnz == 0 else None  # a silent layer
                if per_step is None and dims and kind == BINARY and out.is_floating_point():
                    sums = exact_sum(out, dim=dims).tolist()  # ones per step, when the values are 0 and 1
                    if sum(sums) == nnz:  # (spikes scaled by a constant c != 1 sum to c per spike)
                        per_step = sums
                if per_step is None:
                    per_step = torch.count_nonzero(out, dim=dims).tolist() if dims else (out != 0).long().tolist()
                if not rec.step_spikes:
                    rec.step_spikes, rec.step_numel = [0] * T, [0] * T
                for t in range(T):
                    rec.step_spikes[t] += int(per_step[t])
                    rec.step_numel[t] += out.numel() // T
            # classified here (and cached) because the next weight layer usually reads this very tensor
            rec.spikes += nnz

    def _custom_pre(self, module, args):
        self._custom_nested.append(self._suppress > 0)
        self._suppress += 1

    def _custom_post_for(self, opname, fn):
        def post(module, args, out):
            self._suppress -= 1
            if not self._custom_nested.pop():
                self._add_custom(self._names[module], type(module).__name__, opname, fn(args, {}, out), args)
        return post

    def _add_custom(self, row, module_type, opname, count: OpCount, args):
        if not isinstance(count, OpCount):
            raise ConfigError(f"registered cost function for {opname!r} returned {type(count).__name__}, expected OpCount")
        rec = self._row(row, module_type, opname)
        shape = next((tuple(a.shape) for a in args if torch.is_tensor(a)), ())
        self._add(rec, count.kind, shape, count.dense_macs, count.macs, count.acs, count.nnz, count.numel)

    def _wrap_function(self, fn, opname, cost):
        counter = self

        def wrapper(*args, **kwargs):
            if counter._suppress:  # nested inside another counted op (e.g. a dispatcher calling a kernel)
                return fn(*args, **kwargs)
            counter._suppress += 1
            try:
                out = fn(*args, **kwargs)
            finally:
                counter._suppress -= 1
            row = f"{counter._stack[-1] if counter._stack else '(root)'}:{opname}"
            counter._add_custom(row, "function", opname, cost(args, kwargs, out), args)
            return out

        wrapper.__wrapped__ = fn
        return wrapper

    def __enter__(self):
        custom_classes = {k: v for k, v in _CUSTOM.items() if isinstance(k, type)}
        for module, name in self._names.items():
            self._handles.append(module.register_forward_pre_hook(self._pre))
            self._handles.append(module.register_forward_hook(self._post))
            if is_neuron_module(module):
                self._handles.append(module.register_forward_hook(self._neuron_post))
            for cls, (opname, fn) in custom_classes.items():
                if isinstance(module, cls):
                    self._handles.append(module.register_forward_pre_hook(self._custom_pre))
                    self._handles.append(module.register_forward_hook(self._custom_post_for(opname, fn)))
                    break
        functions = [(t, v) for t, v in _CUSTOM.items() if isinstance(t, types.FunctionType)]
        if functions:
            # references live in the function's own module and in the modules defining the model's classes
            where = {type(m).__module__ for m in self._names} | {t.__module__ for t, _ in functions}
            candidates = [sys.modules[w] for w in sorted(where) if w in sys.modules]
        for target, (opname, fn) in functions:
            wrapper = self._wrap_function(target, opname, fn)
            for mod in candidates:
                for attr, val in list(vars(mod).items()):
                    if val is target:
                        setattr(mod, attr, wrapper)
                        self._patches.append((mod, attr, target))
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            for h in self._handles:
                h.remove()
            self._handles.clear()
            for mod, attr, original in self._patches:
                setattr(mod, attr, original)
            self._patches.clear()
            self._stack.clear()
            self._ordinals.clear()
            self._class_cache = []

    # -- bookkeeping --------------------------------------------------------------------------------
    def _row(self, name: str, module_type: str, op: str) -> OpRecord:
        rec = self.records.get(name)
        if rec is None:
            rec = self.records[name] = OpRecord(name, module_type, op)
        return rec

    def _add(self, rec: OpRecord, kind, shape, dense, macs, acs, nnz, numel, nnz2=0, numel2=0):
        if not rec.calls:
            rec.input_shape = tuple(shape)
        rec.calls += 1
        rec.kinds.add(kind)
        rec.dense_macs += int(dense)
        rec.macs += int(macs)
        rec.acs += float(acs)
        rec.nnz += int(nnz)
        rec.numel += int(numel)
        rec.nnz2 += int(nnz2)
        rec.numel2 += int(numel2)

    def _classify(self, x: torch.Tensor) -> Tuple[str, int, float]:
        """:func:`classify` with a small cache: one activation often feeds several layers (Q, K, V)."""
        ptr = _storage_key(x)
        if ptr is None:
            return classify(x)
        key = (ptr, x.storage_offset(), x.numel(), x._version)
        for ref, k, result in self._class_cache:
            if k == key:
                return result
        result = classify(x)
        # the cache holds the tensor, so its memory (and address) cannot be reused while cached
        self._class_cache = [(x, key, result)] + self._class_cache[:3]
        return result

    def _owner(self, t) -> Optional[str]:
        if not torch.is_tensor(t):
            return None
        key = _storage_key(t)
        return self._param_owner.get(key) if key is not None else None

    def _functional_row(self, op: str) -> str:
        if not self._stack:
            where, ords = "(root)", None
        else:
            where, ords = self._stack[-1], self._ordinals[-1]
        k = 0
        if ords is not None:
            k = ords.get(op, 0)
            ords[op] = k + 1
        return f"{where}:{op}#{k}"

    def _module_type(self, name: str) -> str:
        m = self._modules_by_name.get(name)
        return type(m).__name__ if m is not None else "function"

    def _weight(self, kind: str, nnz: int, abs_sum: float) -> Optional[float]:
        """Accumulate weight per element for AC pricing, or None when the input is MAC-priced."""
        if kind == BINARY:
            return float(nnz)
        if kind == INTEGER and self.integer_inputs == "ac":
            return abs_sum
        return None

    # -- matrix products ----------------------------------------------------------------------------
    def _count_mm(self, a: torch.Tensor, b: torch.Tensor, batched: bool):
        """a: ([B,] m, k), b: ([B,] k, n)."""
        nb = a.shape[0] if batched else 1
        m, k = a.shape[-2], a.shape[-1]
        n = b.shape[-1]
        dense = nb * m * k * n
        owner_a, owner_b = self._owner(a), self._owner(b)
        if owner_b is not None or owner_a is not None:
            if owner_b is not None:
                act, fan, owner = a, n, owner_b
            else:
                act, fan, owner = b, m, owner_a
            rec = self._row(owner, self._module_type(owner), "linear")
            kind, nnz, abs_sum = self._classify(act)
            w = self._weight(kind, nnz, abs_sum)
            acs, macs = (w * fan, 0) if w is not None else (0.0, dense)
            self._add(rec, kind, act.shape, dense, macs, acs, nnz, act.numel())
            return
        name = self._functional_row("matmul")
        rec = self._row(name, self._module_type(name.split(":")[0]), "matmul")
        ka, nnza, sa = self._classify(a)
        kb, nnzb, sb = self._classify(b)
        wa, wb = self._weight(ka, nnza, sa), self._weight(kb, nnzb, sb)
        if wa is not None and wb is not None:
            # exact count of (i, k, j) with both operands non-zero, |value|-weighted for integers
            ai = (a != 0).double() if ka == BINARY else a.abs().double()
            bi = (b != 0).double() if kb == BINARY else b.abs().double()
            acs = float((ai @ bi).sum())
            kind, macs = (BINARY if ka == kb == BINARY else INTEGER), 0
        elif wa is not None:  # each spike of a selects a row of b to accumulate
            acs, macs, kind = wa * n, 0, ka
        elif wb is not None:
            acs, macs, kind = wb * m, 0, kb
        else:
            acs, macs, kind = 0.0, dense, REAL
        self._add(rec, kind, a.shape, dense, macs, acs, nnza, a.numel(), nnzb, b.numel())

    # -- convolution --------------------------------------------------------------------------------
    def _fanout(self, in_sp, out_sp, k_sp, stride, padding, dilation, transposed, device):
        """Spatial fan-out map (float64 on ``device``): for each input position, the number of kernel taps reading it."""
        key = (in_sp, out_sp, k_sp, stride, padding, dilation, transposed, str(device))
        hit = self._fanout_cache.get(key)
        if hit is not None:
            return hit
        nd = len(in_sp)
        conv = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d, 3: torch.nn.functional.conv3d}
        convt = {1: torch.nn.functional.conv_transpose1d, 2: torch.nn.functional.conv_transpose2d,
                 3: torch.nn.functional.conv_transpose3d}
        if nd not in conv:
            raise ConfigError(f"energy counting supports 1-3 spatial dims for convolution, got {nd}")
        ones_k = torch.ones((1, 1) + k_sp, dtype=torch.float64, device=device)
        if not transposed:
            expected = [(o - 1) * s - 2 * p + d * (k - 1) + 1 for o, s, p, d, k in zip(out_sp, stride, padding, dilation, k_sp)]
            opad = tuple(i - e for i, e in zip(in_sp, expected))
            fan = convt[nd](torch.ones((1, 1) + out_sp, dtype=torch.float64, device=device), ones_k, stride=stride, padding=padding,
                            output_padding=opad, dilation=dilation)
        else:
            fan = conv[nd](torch.ones((1, 1) + out_sp, dtype=torch.float64, device=device), ones_k, stride=stride, padding=padding,
                           dilation=dilation)
        fan = fan[0, 0]
        if tuple(fan.shape) != tuple(in_sp):  # defensive: should not happen for valid conv arithmetic
            raise ConfigError(f"fan-out map shape {tuple(fan.shape)} does not match input {in_sp}")
        self._fanout_cache[key] = fan
        return fan

    def _count_conv(self, args, out):
        x, w = args[0], args[1]
        stride, padding, dilation, transposed, _opad, groups = args[3:9]
        nd = x.dim() - 2
        stride, padding, dilation = _ntuple(stride, nd), _ntuple(padding, nd), _ntuple(dilation, nd)
        in_sp, out_sp, k_sp = tuple(x.shape[2:]), tuple(out.shape[2:]), tuple(w.shape[2:])
        per_in_channel = w.shape[1] if transposed else w.shape[0] // groups  # output channels one input reaches
        fan = self._fanout(in_sp, out_sp, k_sp, tuple(stride), tuple(padding), tuple(dilation), bool(transposed), x.device)
        owner = self._owner(w) or self._functional_row("conv")
        rec = self._row(owner, self._module_type(owner.split(":")[0]), "conv_transpose" if transposed else "conv")
        n, c = x.shape[0], x.shape[1]
        dense = int(round(float(fan.sum()))) * n * c * per_in_channel
        kind, nnz, abs_sum = self._classify(x)
        w_ = self._weight(kind, nnz, abs_sum)
        if w_ is not None:
            xi = (x != 0) if kind == BINARY else x.abs()
            occ = xi.sum(dim=(0, 1), dtype=torch.float64)
            acs, macs = float((occ * fan).sum()) * per_in_channel, 0
        else:
            acs, macs = 0.0, dense
        self._add(rec, kind, x.shape, dense, macs, acs, nnz, x.numel())

    # -- fused attention ----------------------------------------------------------------------------
    def _count_sdpa(self, args, out):
        q, k, v = args[:3]
        lead = math.prod(q.shape[:-2])
        L, E, S, Ev = q.shape[-2], q.shape[-1], k.shape[-2], v.shape[-1]
        name = self._functional_row("attention")
        rec = self._row(name, self._module_type(name.split(":")[0]), "attention")
        kq, nq, sq = self._classify(q)
        kk, nk, sk = self._classify(k)
        # Q·Kᵀ: AC-priced only when both are spikes (exact pair count); softmax(·)·V is real × V: MACs
        qk_dense, av_dense = lead * L * S * E, lead * L * S * Ev
        if kq == kk == BINARY:
            qi = (q != 0).double().reshape(lead, L, E)
            ki = (k != 0).double().reshape(lead, S, E)
            qk_acs, qk_macs = float(torch.bmm(qi, ki.transpose(1, 2)).sum()), 0
        else:
            qk_acs, qk_macs = 0.0, qk_dense
        kind = BINARY if kq == kk == BINARY else REAL
        self._add(rec, kind, q.shape, qk_dense + av_dense, qk_macs + av_dense, qk_acs, nq, q.numel(), nk, k.numel())

    # -- dispatch -----------------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types_, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self._suppress:
            return out
        rule = _RULES.get(func)
        if rule is not None:
            with torch.no_grad():
                rule(self, args, kwargs, out)
        return out


def _r_mm(c, args, kwargs, out):
    c._count_mm(args[0], args[1], batched=False)


def _r_addmm(c, args, kwargs, out):
    c._count_mm(args[1], args[2], batched=False)


def _r_bmm(c, args, kwargs, out):
    c._count_mm(args[0], args[1], batched=True)


def _r_baddbmm(c, args, kwargs, out):
    c._count_mm(args[1], args[2], batched=True)


def _r_mv(c, args, kwargs, out):
    c._count_mm(args[0], args[1].unsqueeze(-1), batched=False)


def _r_conv(c, args, kwargs, out):
    c._count_conv(args, out)


def _r_sdpa(c, args, kwargs, out):
    c._count_sdpa(args, out)


_RULES: Dict[Any, Callable] = {
    aten.mm.default: _r_mm,
    aten.addmm.default: _r_addmm,
    aten.bmm.default: _r_bmm,
    aten.baddbmm.default: _r_baddbmm,
    aten.mv.default: _r_mv,
    aten.convolution.default: _r_conv,
}
for _name in ("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
              "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
              "_scaled_dot_product_attention_math"):
    _op = getattr(aten, _name, None)
    if _op is not None and hasattr(_op, "default"):
        _RULES[_op.default] = _r_sdpa
