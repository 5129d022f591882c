"""A pretend CUDA GPU for tests on a machine without one.

The code under test runs on the CPU, but every tensor carries the device it would be on (`cuda:N`
once it was created there or moved there), and every torch op checks CUDA's rule that its tensors
share one device. So the mistakes only a GPU would show — a mask built on the CPU and fed to a model
on the GPU, a sampling generator on the wrong device, a second model on GPU 0 under a rank of GPU 1
— fail here, as `DeviceMismatch`, with the values still computed exactly as on the CPU.

The rules, as CUDA's: a 0-dim CPU tensor mixes with any device; indexing may take CPU indices, and
slice assignment and `copy_` may take values from another device; a random op's generator must be on
its tensors' device type; `.numpy()` needs the CPU. Gradients, which autograd makes outside torch's
Python layer, take their tensor's device when read. Not modelled: streams, memory, autocast on the
GPU (it is off on a CPU-only torch), anything compiled.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

CPU = torch.device("cpu")
# ops that make a tensor from nothing (the device is theirs to say) or like another (its device)
FACTORIES = {"zeros", "ones", "empty", "full", "arange", "tensor", "as_tensor", "randn", "rand", "randint",
             "randperm", "eye", "linspace", "scalar_tensor", "empty_strided"}  # fmt: skip
LIKE = {"zeros_like", "ones_like", "empty_like", "full_like", "randn_like", "rand_like", "randint_like",
        "new_zeros", "new_ones", "new_empty", "new_full", "new_tensor"}  # fmt: skip
INDEXING = {"__getitem__", "__setitem__", "index_put_", "index_put", "copy_"}
NOT_TENSORS = {"tolist", "item", "dim", "size", "numel", "data_ptr", "__len__", "__repr__", "__format__"}


class DeviceMismatch(RuntimeError):
    """What CUDA would raise: tensors of one op on different devices."""


def device_of(t: torch.Tensor) -> torch.device:
    return t.__dict__.get("_pretend_device", CPU)


def _device(d) -> torch.device:
    d = torch.device(d)
    return torch.device("cuda", 0) if d.type == "cuda" and d.index is None else d


def _tag(out, device: torch.device):
    for t in tree_flatten(out)[0]:
        if isinstance(t, torch.Tensor):
            t._pretend_device = device
    return out


class _Generator(torch.Generator):
    """torch.Generator that remembers the device it was asked for (a CPU-only torch has no other)."""

    def __new__(cls, device="cpu"):
        return super().__new__(cls)

    def __init__(self, device="cpu"):
        super().__init__()
        self.pretend_device = _device(device)


class _PretendCuda(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        name = getattr(func, "__name__", "")
        descriptor = getattr(func, "__self__", None)
        if descriptor is torch.Tensor.device:
            return device_of(args[0])
        if descriptor is torch.Tensor.is_cuda:
            return device_of(args[0]).type == "cuda"
        if descriptor is torch.Tensor.grad:
            grad = func(*args, **kwargs)
            return grad if grad is None else _tag(grad, device_of(args[0]))
        if name in FACTORIES or name in LIKE:
            asked = kwargs.pop("device", None)
            if asked is not None:
                device = _device(asked)
            elif name in LIKE:
                device = device_of(args[0])
            elif name in ("tensor", "as_tensor") and args and isinstance(args[0], torch.Tensor):
                device = device_of(args[0])
            else:
                device = CPU
            self._check_generator(name, kwargs.get("generator"), device)
            return _tag(func(*args, **kwargs), device)
        if name in ("to", "cpu", "cuda"):
            return self._move(name, args, kwargs)
        if name == "numpy" and device_of(args[0]).type == "cuda":
            raise DeviceMismatch("numpy() of a tensor on the GPU (it needs .cpu() first)")
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        if name in INDEXING:  # indices on the CPU or the tensor's device; values from anywhere
            device = device_of(args[0])
            indices = tree_flatten(args[1])[0] if name != "copy_" else []
            bad = [device_of(t) for t in indices if isinstance(t, torch.Tensor)]
            bad = [str(d) for d in bad if d not in (CPU, device)]
        else:
            devices = {device_of(t) for t in tensors if not (t.dim() == 0 and device_of(t) == CPU)}
            devices = devices or {device_of(t) for t in tensors} or {CPU}
            bad = sorted(map(str, devices)) if len(devices) > 1 else []
            device = next(iter(devices))
        if bad:
            raise DeviceMismatch(f"{name}: tensors on {bad} and {device}")
        self._check_generator(name, kwargs.get("generator"), device)
        out = func(*args, **kwargs)
        return out if name in NOT_TENSORS or name == "__setitem__" else _tag(out, device)

    def _move(self, name, args, kwargs):
        t, rest, device = args[0], list(args[1:]), device_of(args[0])
        if name == "cpu":
            device, rest = CPU, []
        elif name == "cuda":
            device, rest = _device(rest[0] if rest else "cuda"), []
        else:
            if "device" in kwargs:
                device = _device(kwargs.pop("device"))
            for i, a in enumerate(rest):
                if isinstance(a, (str, torch.device)):
                    device, rest[i] = _device(a), None
                elif isinstance(a, torch.Tensor):  # .to(other): its dtype and device
                    device, rest[i] = device_of(a), a.dtype
            rest = [a for a in rest if a is not None]
        out = t.to(*rest, **kwargs)
        if out is t and device != device_of(t):  # a new tensor object, which can carry its own device
            out = t.view_as(t)
        return _tag(out, device)

    @staticmethod
    def _check_generator(name, generator, device: torch.device):
        if generator is None:
            return
        own = getattr(generator, "pretend_device", CPU)
        if own.type != device.type:
            raise DeviceMismatch(f"{name}: a generator on {own} for a tensor on {device}")


def _module_to(original):
    def to(self, *args, **kwargs):
        device = kwargs.pop("device", None)
        rest = [a for a in args if not isinstance(a, (str, torch.device))]
        device = next((a for a in args if isinstance(a, (str, torch.device))), device)
        if rest or kwargs:
            original(self, *rest, **kwargs)
        if device is not None:
            for t in [*self.parameters(), *self.buffers()]:
                _tag(t, _device(device))
        return self

    return to


@contextmanager
def pretend_cuda(monkeypatch, gpus: int = 2, capability: tuple[int, int] = (9, 0)):
    """Within the block, torch reports `gpus` CUDA devices of `capability` and tracks the device of
    every tensor (see the module's docstring); `monkeypatch` undoes the patches after the test."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "pretend GPU")
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: None)
    monkeypatch.setattr(torch, "Generator", _Generator)
    monkeypatch.setattr(nn.Module, "to", _module_to(nn.Module.to))
    with _PretendCuda():
        yield
