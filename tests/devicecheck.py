"""A stand-in accelerator for machines without one: tensors that compute on the CPU but say they live on the
``meta`` device, so that a model run on them fails wherever it makes a tensor on a fixed device.

Inside :func:`on_other_device`, ``to(device)`` / ``cuda``-style moves and factory calls (``torch.zeros``,
``arange``, ``randn``, ...) that name the ``meta`` device return :class:`OtherDevice` tensors (CPU data, reported
device ``meta``); every operation on them checks its other tensor arguments: a plain CPU tensor of more than
one element (what a hidden ``torch.tensor(...)``, ``torch.zeros(n)`` or a buffer left on the CPU gives) raises
:class:`DeviceLeak` naming the operation, as the same code would fail on a GPU. What a GPU accepts is
accepted: zero-dimensional CPU tensors (Python scalars), CPU index tensors and ``.item()``/``float()``.
The values computed are not checked (a tensor torch makes on the device below Python, such as a zero in a
backward formula, has no data and is taken as zeros): this is a test of devices only.
"""
from __future__ import annotations

import contextlib

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_map

OTHER = torch.device("meta")


class DeviceLeak(RuntimeError):
    """A CPU tensor met a tensor on the other device."""


class OtherDevice(torch.Tensor):
    """CPU data reported on the ``meta`` device (see the module docstring)."""

    @staticmethod
    def __new__(cls, data: torch.Tensor):
        assert not isinstance(data, OtherDevice) and data.device.type == "cpu"
        t = torch.Tensor._make_wrapper_subclass(cls, data.shape, strides=data.stride(), dtype=data.dtype,
                                                 device=OTHER, requires_grad=data.requires_grad,
                                                 storage_offset=data.storage_offset())
        t.data_ = data
        return t

    def __repr__(self):
        return f"OtherDevice({self.data_!r})"

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = str(func.overloadpacket.__name__)
        index_op = name in ("index", "index_put", "index_put_", "_index_put_impl_")

        def unwrap(x):
            if isinstance(x, OtherDevice):
                return x.data_
            if isinstance(x, torch.Tensor) and x.device.type == "cpu" and x.dim() > 0:
                if not (index_op and x.dtype in (torch.int64, torch.int32, torch.bool)):
                    raise DeviceLeak(f"{func}: a CPU tensor {tuple(x.shape)} {x.dtype} met a tensor on the model's "
                                     "device (made on a fixed device, or not moved with the model)")
            if isinstance(x, torch.Tensor) and x.device == OTHER:
                # made by torch itself on the device, below Python (a backward formula's zero): no data to
                # compute with; the check is about devices, not values, so zeros stand in
                return torch.zeros(x.shape, dtype=x.dtype)
            if isinstance(x, torch.device) and x == OTHER:
                return torch.device("cpu")
            return x

        to_cpu = kwargs.get("device") is not None and torch.device(kwargs["device"]).type == "cpu"
        kw = {k: unwrap(v) if k != "device" else torch.device("cpu") if v == OTHER else v for k, v in kwargs.items()}
        out = func(*tree_map(unwrap, args), **kw)
        if to_cpu:  # an explicit move to the CPU (x.cpu(), x.to("cpu")): a plain CPU tensor, as on a GPU
            return out
        return tree_map(lambda x: OtherDevice(x) if isinstance(x, torch.Tensor) and x.device.type == "cpu" else x, out)


_FACTORIES = {torch.zeros, torch.ones, torch.empty, torch.full, torch.arange, torch.linspace, torch.logspace,
              torch.eye, torch.rand, torch.randn, torch.randint, torch.randperm, torch.tensor, torch.as_tensor,
              torch.zeros_like, torch.ones_like, torch.empty_like, torch.full_like, torch.rand_like,
              torch.randn_like, torch.scalar_tensor}


def _is_device(x) -> bool:
    return isinstance(x, (str, torch.device))


def _is_other(device) -> bool:
    return device is not None and torch.device(device) == OTHER


class _Mode(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in _FACTORIES and _is_other(kwargs.get("device")):
            kwargs["device"] = "cpu"
            with torch._C.DisableTorchFunctionSubclass():
                out = func(*args, **kwargs)
            return out if isinstance(out, OtherDevice) else OtherDevice(out)
        if func is torch.Tensor.tolist and isinstance(args[0], OtherDevice):  # a device sync, allowed as on a GPU
            return args[0].data_.tolist()
        if func is torch.Tensor.to and args and isinstance(args[0], torch.Tensor):
            src, rest = args[0], list(args[1:])
            if rest and isinstance(rest[0], torch.Tensor):  # to(other): its device and dtype
                rest = [rest[0].device, rest[0].dtype] + rest[1:]
            moving = any(_is_device(a) and _is_other(a) for a in rest) or _is_other(kwargs.get("device"))
            if moving and not isinstance(src, OtherDevice):
                rest = [torch.device("cpu") if _is_device(a) and _is_other(a) else a for a in rest]
                if _is_other(kwargs.get("device")):
                    kwargs["device"] = "cpu"
                with torch._C.DisableTorchFunctionSubclass():
                    moved = src.to(*rest, **kwargs).detach()
                    moved = moved.clone() if moved.data_ptr() == src.data_ptr() else moved
                out = OtherDevice(moved)
                return out.requires_grad_(True) if src.requires_grad else out
        return func(*args, **kwargs)


@contextlib.contextmanager
def on_other_device():
    """Within: ``device=DEVICE`` and ``.to(DEVICE)`` give :class:`OtherDevice` tensors."""
    with _Mode():
        yield OTHER


def module_to_other(module: torch.nn.Module) -> torch.nn.Module:
    """Move a module's parameters and buffers to the other device (as ``module.to(device)`` would)."""
    with on_other_device():
        return module.to(OTHER)
