"""K classifiers of one architecture as one network, trained and evaluated in one pass.

The cells of a grid that share dataset, model and training setup differ only in seeds,
strategies and augmentations, so their K models can run as one: every convolution becomes
a grouped convolution over K channel groups (the lowering that ``torch.func``'s model
ensembling and Packed-Ensembles use), every BatchNorm one BatchNorm over the K * C channels
(so statistics stay per model), every linear layer one batched matrix product. Model k reads
channel group k of the input and writes group k of every activation; nothing mixes across
groups, so the stacked network computes exactly the K separate functions, its gradients are
the K separate gradients, and an element-wise optimiser (Adam) updates each model as it
would alone. With K = 1 the modules are the original ones (a grouped convolution with one
group is a convolution).

Supported layers: ``Conv2d``, ``BatchNorm2d``, ``Linear`` and any layer without parameters or
buffers that acts per channel (activations, pooling, dropout, flatten, identity).

With ``exact=True`` the K networks stay apart and run one after the other on their channel
groups: the same packed input and ``[K, B, ...]`` outputs, any architecture, and each member
bit-identical to its lone run (what al4ml uses on CPU, see :attr:`al4ml.device.Execution.exact_cohorts`).

Stacking is checked, not assumed (:func:`stack_refusal`): an architecture whose stacked form
would not compute its members' own outputs (a layer the lowering does not know, such as
LayerNorm, or a forward that concatenates along channels, as DenseNet's does) runs apart,
with one warning line, so a cell's numbers never depend on its cohort.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any, cast

import torch
from torch import nn

from al4ml.errors import Al4mlWarning
from al4ml.models.classifier import Classifier

_VERDICTS: dict[str, str | None] = {}
"""Stacking verdicts per architecture (the module tree's repr)."""


class StackedLinear(nn.Module):
    """K linear layers on K feature groups: ``[B, K * in] -> [B, K * out]``.

    Args:
        layers: The K layers (same shapes).
    """

    def __init__(self, layers: list[nn.Linear]) -> None:
        super().__init__()
        self.k = len(layers)
        self.in_features, self.out_features = layers[0].in_features, layers[0].out_features
        self.weight = nn.Parameter(torch.stack([m.weight.detach() for m in layers]))  # [K, out, in]
        self.bias = (
            nn.Parameter(torch.stack([m.bias.detach() for m in layers]).unsqueeze(1))
            if layers[0].bias is not None
            else None
        )  # [K, 1, out]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, K * in] -> [B, K * out]``."""
        b = x.shape[0]
        xk = x.reshape(b, self.k, self.in_features).transpose(0, 1)  # [K, B, in]
        w = self.weight.transpose(1, 2)
        y = torch.baddbmm(self.bias, xk, w) if self.bias is not None else torch.bmm(xk, w)
        return y.transpose(0, 1).reshape(b, self.k * self.out_features)


def _cat(tensors: list[Any]) -> torch.Tensor:
    """One tensor of one layer of each member (``[n, ...]`` each), as ``[K * n, ...]``."""
    if any(not isinstance(t, torch.Tensor) for t in tensors):
        raise ValueError("the members' layers differ: one lacks a tensor the others have")
    return torch.cat([t.detach() for t in tensors])


def _stack_layer(layers: list[nn.Module]) -> nn.Module:
    """One layer computing ``layers`` side by side on K channel groups."""
    first, k = layers[0], len(layers)
    if isinstance(first, nn.Conv2d):
        geometry: dict[str, Any] = {
            "kernel_size": first.kernel_size,
            "stride": first.stride,
            "padding": first.padding,
            "dilation": first.dilation,
        }
        conv = nn.Conv2d(
            first.in_channels * k,
            first.out_channels * k,
            **geometry,
            groups=first.groups * k,
            bias=first.bias is not None,
            padding_mode=first.padding_mode,
            device=first.weight.device,
            dtype=first.weight.dtype,
        )
        conv.weight = nn.Parameter(_cat([m.weight for m in layers]))
        if first.bias is not None:
            conv.bias = nn.Parameter(_cat([m.bias for m in layers]))
        return conv
    if isinstance(first, nn.BatchNorm2d):
        bn = nn.BatchNorm2d(
            first.num_features * k,
            first.eps,
            first.momentum,
            first.affine,
            first.track_running_stats,
            device=first.running_mean.device if first.running_mean is not None else None,
        )
        if first.affine:
            bn.weight = nn.Parameter(_cat([m.weight for m in layers]))
            bn.bias = nn.Parameter(_cat([m.bias for m in layers]))
        if first.track_running_stats:
            bn.running_mean = _cat([m.running_mean for m in layers])
            bn.running_var = _cat([m.running_var for m in layers])
            bn.num_batches_tracked = cast(torch.Tensor, first.num_batches_tracked).detach().clone()
        return bn
    if isinstance(first, nn.Linear):
        return StackedLinear(layers)  # type: ignore[arg-type]
    raise ValueError(
        f"cannot stack a {type(first).__name__} layer: only Conv2d, BatchNorm2d, Linear "
        "and parameter-free per-channel layers stack (run such cells one at a time "
        "with --cohort-size 1)"
    )


def _has_state(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False)) or any(
        True for _ in module.buffers(recurse=False)
    )


def _member_layer(layer: nn.Module, k: int, models: int) -> dict[str, torch.Tensor]:
    """The tensors of model ``k`` (of ``models``) in one stacked layer, named as in the single layer."""
    if isinstance(layer, StackedLinear):
        out = {"weight": layer.weight[k]}
        if layer.bias is not None:
            out["bias"] = layer.bias[k, 0]
        return out
    size = layer.out_channels if isinstance(layer, nn.Conv2d) else cast(nn.BatchNorm2d, layer).num_features
    part = size // models
    out = {}
    for name, t in [*layer.named_parameters(recurse=False), *layer.named_buffers(recurse=False)]:
        out[name] = t if name == "num_batches_tracked" else t[k * part : (k + 1) * part]
    return out


class StackedClassifier(nn.Module):
    """K :class:`~al4ml.models.classifier.Classifier` s of one architecture as one network.

    Inputs are packed along channels (``[B, K * C, H, W]``, see :meth:`pack` and
    :meth:`shared`); outputs come back per model, ``[K, B, ...]``.

    Args:
        members: K freshly built (or trained) classifiers with identical structure; their
            weights are copied, the members themselves are left alone.
        exact: Keep the K networks apart and run them one after the other on their channel
            groups: each member then computes bit for bit what it computes alone (a grouped
            convolution sums in another order than K plain ones, so a stacked member's
            weights differ from its lone twin's in the last bits, and a query ranking can
            flip rounds later). Costs little on CPU, where the grouped kernels save little.
    """

    def __init__(self, members: list[Classifier], exact: bool = False, check: bool = True) -> None:
        super().__init__()
        self.k = len(members)
        if not exact and self.k > 1 and check:
            refused = stack_refusal(members[0])
            if refused is not None:
                exact = True  # apart: each member exactly as alone, whatever the architecture
        if exact and self.k > 1:  # K networks side by side, no stacked layer anywhere
            self.apart: nn.ModuleList | None = nn.ModuleList(copy.deepcopy(m) for m in members)
            self.net: Classifier | None = None
            return
        self.apart = None
        net = copy.deepcopy(members[0])
        if self.k > 1:
            named = [dict(m.named_modules()) for m in members]
            for name, module in list(net.named_modules()):
                if not name or not _has_state(module):
                    continue
                stacked = _stack_layer([n[name] for n in named])
                parent, _, child = name.rpartition(".")
                setattr(net.get_submodule(parent) if parent else net, child, stacked)
        self.net = net

    @property
    def whole(self) -> Classifier:
        """The one network computing all K members (unless they are kept apart)."""
        if self.net is None:
            raise RuntimeError("the members are kept apart: there is no one network")
        return self.net

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """Per-model batches ``[K, B, C, H, W]`` -> packed input ``[B, K * C, H, W]``."""
        k, b, c, h, w = x.shape
        return x.transpose(0, 1).reshape(b, k * c, h, w)

    def shared(self, x: torch.Tensor) -> torch.Tensor:
        """One batch ``[B, C, H, W]`` seen by every model -> packed input ``[B, K * C, H, W]``."""
        return x.repeat(1, self.k, 1, 1) if self.k > 1 else x

    def forward_with_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Packed input -> logits ``[K, B, classes]`` and embeddings ``[K, B, D]``."""
        if self.apart is not None:  # each member's group in the layout a lone run would pass
            fmt = (
                torch.channels_last
                if x.dim() == 4
                and not x.is_contiguous()
                and x.is_contiguous(memory_format=torch.channels_last)
                else torch.contiguous_format
            )
            groups = [g.contiguous(memory_format=fmt) for g in x.chunk(self.k, dim=1)]
            apart = cast(list[Classifier], list(self.apart))
            embs = [m.features(g) for m, g in zip(apart, groups, strict=True)]
            logits = [m.head(m.dropout(e)) for m, e in zip(apart, embs, strict=True)]
            return torch.stack(logits), torch.stack(embs)
        net = self.whole
        emb = net.features(x)
        logits = net.head(net.dropout(emb))
        b = x.shape[0]
        return (logits.reshape(b, self.k, -1).transpose(0, 1), emb.reshape(b, self.k, -1).transpose(0, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Packed input -> logits ``[K, B, classes]``."""
        return self.forward_with_embedding(x)[0]

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """Model ``k``'s weights and buffers as a single classifier's ``state_dict``."""
        if self.apart is not None:
            return dict(self.apart[k].state_dict())
        if self.k == 1:
            return dict(self.whole.state_dict())
        state = {}
        for name, module in self.whole.named_modules():
            if name and _has_state(module):
                for key, t in _member_layer(module, k, self.k).items():
                    state[f"{name}.{key}"] = t
        return state

    def member(self, k: int, into: Classifier) -> Classifier:
        """Load model ``k``'s weights into ``into`` (a classifier of the same architecture)."""
        into.load_state_dict({n: t.detach().clone() for n, t in self.member_state(k).items()})
        return into


def stack_refusal(model: Classifier) -> str | None:
    """Why K models of ``model``'s architecture must not run as one stacked network (``None``:
    they may).

    Checked on CPU in float64: two members with different weights are stacked and fed one
    small batch (eval mode, and train mode with dropout off); the stacked outputs must equal
    the members' own. A layer the lowering does not know (LayerNorm, attention) or a forward
    that mixes channel groups (``torch.cat`` along channels) fails. The first refusal of an
    architecture is one warning line; verdicts are cached per architecture.
    """
    key = repr(model)
    if key not in _VERDICTS:
        _VERDICTS[key] = _check_stacking(model)
        if _VERDICTS[key] is not None:
            warnings.warn(
                Al4mlWarning(
                    f"model {type(model.features).__name__} does not stack ({_VERDICTS[key]}): a "
                    "cohort's models run one after another instead, each exactly as alone"
                ),
                stacklevel=3,
            )
    return _VERDICTS[key]


def _check_stacking(model: Classifier, size: int = 32) -> str | None:
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    channels = conv.in_channels * conv.groups if conv is not None else 3
    g = torch.Generator().manual_seed(0)
    members = [copy.deepcopy(model).to("cpu", torch.float64) for _ in range(2)]
    with torch.no_grad():
        for p in members[1].parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    for m in members:
        for layer in m.modules():
            if isinstance(layer, nn.modules.dropout._DropoutNd):
                layer.p = 0.0
    try:
        stack = StackedClassifier(members, check=False)
    except ValueError as e:
        return str(e).split(":")[0]
    x = torch.randn(2, 4, channels, size, size, generator=g, dtype=torch.float64)  # [K, B, C, H, W]
    for train in (False, True):
        stack.train(train)
        alone = []
        for k, m in enumerate(members):
            m.train(train)
            alone.append(m(x[k]))
        try:
            together = stack(stack.pack(x))
        except RuntimeError as e:  # shapes the lowering does not keep
            return f"its stacked forward fails: {str(e).splitlines()[0]}"
        if not torch.allclose(together, torch.stack(alone), rtol=1e-6, atol=1e-8):
            return "its forward mixes the members' channel groups"
    return None
