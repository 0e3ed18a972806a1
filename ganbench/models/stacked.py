"""Seed-stacked layers: S copies of one network as one module whose tensors have a leading seed dimension.

``stack_modules(nets)`` turns S networks of the same structure (each built from its own seed, as a serial
run builds it) into one module that maps ``[S, B, ...]`` to ``[S, B, ...]``: seed s's slice is seed s's
network applied to seed s's batch. Linear layers become batched matrix products, convolutions and
transposed convolutions grouped convolutions (``groups=S``), batch norm keeps statistics per seed (S x C
channels), spectral norm runs its power iteration per seed from each network's own ``u`` and ``v``.
Element-wise layers are shared. A layer with no stacked form raises ``NotVectorisable``.

Every stacked tensor corresponds to one tensor of the serial network (``serial_names``), so the state
moves between the stack and the S networks in both directions (``unstack_into``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from ganbench.models.nets import BlocksBatchNorm1d, Maxout, Reshape


class NotVectorisable(ValueError):
    """The networks (or the model) have a part with no seed-stacked form: train them serially."""


class SeedRandom:
    """One generator per seed. Every draw is made per seed from its own generator, in the shape the serial
    run draws it from torch's global generator, then stacked: seed s sees exactly its serial numbers."""

    def __init__(self, generators: list[torch.Generator], device: torch.device) -> None:
        self.generators, self.device = list(generators), device

    def randn(self, *shape: int) -> torch.Tensor:
        return torch.stack([torch.randn(shape, generator=g, device=self.device) for g in self.generators])

    def rand(self, *shape: int) -> torch.Tensor:
        return torch.stack([torch.rand(shape, generator=g, device=self.device) for g in self.generators])

    def select(self, keep: list[int]) -> None:
        self.generators = [self.generators[i] for i in keep]

    def as_global(self, s: int, fn):
        """``fn()`` with seed s's generator standing in for torch's global one on its device (for ops that
        take no generator, such as ``F.dropout``: the draws are the serial run's, on the CPU and on CUDA)."""
        g = self.generators[s]
        cuda = g.device.type == "cuda"
        saved = torch.cuda.get_rng_state(g.device) if cuda else torch.get_rng_state()
        (torch.cuda.set_rng_state(g.get_state(), g.device) if cuda else torch.set_rng_state(g.get_state()))
        try:
            return fn()
        finally:
            g.set_state(torch.cuda.get_rng_state(g.device) if cuda else torch.get_rng_state())
            (torch.cuda.set_rng_state(saved, g.device) if cuda else torch.set_rng_state(saved))


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([t.detach() for t in tensors]).clone()


def _same(mods: list[nn.Module], *attrs: str) -> None:
    for a in attrs:
        values = {repr(getattr(m, a)) for m in mods}
        if len(values) > 1:
            raise NotVectorisable(f"{type(mods[0]).__name__}.{a} differs between the seeds' networks: {values}")


class Stacked(nn.Module):
    """Base of the stacked layers: ``serial_names`` maps each own tensor to the serial layer's name."""

    serial_names: dict[str, str]

    def _param(self, name: str, tensors: list[torch.Tensor], serial: str | None = None) -> None:
        self.register_parameter(name, nn.Parameter(_stack(tensors)))
        self.serial_names[name] = serial or name

    def _buffer(self, name: str, tensors: list[torch.Tensor], serial: str | None = None) -> None:
        self.register_buffer(name, _stack(tensors))
        self.serial_names[name] = serial or name


def _spectral(m: nn.Module):
    """The spectral-norm parametrization of ``m.weight``, or None; other parametrizations are refused."""
    if not parametrize.is_parametrized(m):
        return None
    plist = m.parametrizations
    if set(plist.keys()) != {"weight"} or len(plist.weight) != 1:
        raise NotVectorisable(f"{type(m).__name__} has parametrizations other than one on its weight")
    sn = plist.weight[0]
    if type(sn).__name__ != "_SpectralNorm" or sn.dim != 0 or not hasattr(sn, "_u"):
        raise NotVectorisable(f"unsupported parametrization {type(sn).__name__} on {type(m).__name__}")
    return sn


class _Weighted(Stacked):
    """The weight (raw, or spectral-normalised per seed) and bias of stacked linear or conv layers."""

    def __init__(self, mods: list[nn.Module]) -> None:
        super().__init__()
        self.serial_names = {}
        sns = [_spectral(m) for m in mods]
        self.sn = sns[0] is not None
        if any((s is not None) != self.sn for s in sns):
            raise NotVectorisable("spectral norm on some seeds' layers only")
        if self.sn:
            _same(sns, "eps", "n_power_iterations")
            self.eps, self.n_power_iterations = sns[0].eps, sns[0].n_power_iterations
            self._param("weight", [m.parametrizations.weight.original for m in mods], "parametrizations.weight.original")
            self._buffer("_u", [s._u for s in sns], "parametrizations.weight.0._u")
            self._buffer("_v", [s._v for s in sns], "parametrizations.weight.0._v")
        else:
            self._param("weight", [m.weight for m in mods])
        if mods[0].bias is not None:
            self._param("bias", [m.bias for m in mods])
        else:
            self.bias = None

    def effective_weight(self) -> torch.Tensor:
        """``weight``, divided per seed by its spectral norm estimate (one power iteration per call in
        training, as ``torch.nn.utils.parametrizations.spectral_norm``)."""
        w = self.weight
        if not self.sn:
            return w
        mat = w.flatten(2)  # [S, h, w]: dim 0 of each seed's weight against the rest
        if self.training:
            with torch.no_grad():
                for _ in range(self.n_power_iterations):
                    u = F.normalize(torch.bmm(mat, self._v.unsqueeze(2)).squeeze(2), dim=1, eps=self.eps)
                    self._u.copy_(u)
                    v = F.normalize(torch.bmm(mat.transpose(1, 2), self._u.unsqueeze(2)).squeeze(2), dim=1,
                                    eps=self.eps)  # fmt: skip
                    self._v.copy_(v)
        u, v = self._u.clone(), self._v.clone()
        sigma = (u * torch.bmm(mat, v.unsqueeze(2)).squeeze(2)).sum(1)
        return w / sigma.view(-1, *([1] * (w.dim() - 1)))


class StackedLinear(_Weighted):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [S, B, in]
        w = self.effective_weight().transpose(1, 2)
        if self.bias is None:
            return torch.bmm(x, w)
        return torch.baddbmm(self.bias.unsqueeze(1), x, w)


def _to_groups(x: torch.Tensor) -> torch.Tensor:
    """``[S, B, C, H, W]`` -> ``[B, S*C, H, W]``: seed s's channels are group s."""
    s, b = x.shape[:2]
    return x.transpose(0, 1).reshape(b, s * x.shape[2], *x.shape[3:])


def _from_groups(y: torch.Tensor, s: int) -> torch.Tensor:
    return y.view(y.shape[0], s, y.shape[1] // s, *y.shape[2:]).transpose(0, 1)


class StackedConv2d(_Weighted):
    def __init__(self, mods: list[nn.Conv2d]) -> None:
        _same(mods, "stride", "padding", "dilation", "groups", "padding_mode")
        if mods[0].groups != 1 or mods[0].padding_mode != "zeros":
            raise NotVectorisable("only ungrouped, zero-padded convolutions are stacked")
        super().__init__(mods)
        self.stride, self.padding, self.dilation = mods[0].stride, mods[0].padding, mods[0].dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [S, B, C, H, W]
        s = x.shape[0]
        w = self.effective_weight()
        bias = None if self.bias is None else self.bias.reshape(-1)
        y = F.conv2d(_to_groups(x), w.reshape(-1, *w.shape[2:]), bias, self.stride, self.padding, self.dilation, s)
        return _from_groups(y, s)


class StackedConvTranspose2d(_Weighted):
    def __init__(self, mods: list[nn.ConvTranspose2d]) -> None:
        _same(mods, "stride", "padding", "output_padding", "dilation", "groups", "padding_mode")
        if mods[0].groups != 1 or mods[0].padding_mode != "zeros":
            raise NotVectorisable("only ungrouped, zero-padded transposed convolutions are stacked")
        if any(_spectral(m) is not None for m in mods):
            raise NotVectorisable("spectral norm on a transposed convolution")
        super().__init__(mods)
        m = mods[0]
        self.stride, self.padding, self.output_padding, self.dilation = m.stride, m.padding, m.output_padding, m.dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.shape[0]
        w = self.weight  # [S, in, out, kh, kw] -> [S*in, out, kh, kw]: groups of in channels
        bias = None if self.bias is None else self.bias.reshape(-1)
        y = F.conv_transpose2d(_to_groups(x), w.reshape(-1, *w.shape[2:]), bias, self.stride, self.padding,
                               self.output_padding, s, self.dilation)  # fmt: skip
        return _from_groups(y, s)


class StackedBatchNorm(Stacked):
    """``nn.BatchNorm1d``/``2d`` per seed: seed s's C channels are channels s*C..(s+1)*C-1 of one batch norm
    over S*C channels, so batch statistics and running statistics are each seed's own."""

    def __init__(self, mods: list[nn.modules.batchnorm._BatchNorm]) -> None:
        super().__init__()
        self.serial_names = {}
        _same(mods, "eps", "momentum", "affine", "track_running_stats")
        m = mods[0]
        if not m.affine or not m.track_running_stats or m.momentum is None:
            raise NotVectorisable("batch norm without affine parameters, running statistics or a momentum")
        self.eps, self.momentum = m.eps, m.momentum
        self._param("weight", [m.weight for m in mods])
        self._param("bias", [m.bias for m in mods])
        self._buffer("running_mean", [m.running_mean for m in mods])
        self._buffer("running_var", [m.running_var for m in mods])
        self._buffer("num_batches_tracked", [m.num_batches_tracked for m in mods])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [S, B, C, ...]
        s = x.shape[0]
        if self.training:
            self.num_batches_tracked.add_(1)
        y = F.batch_norm(_to_groups(x), self.running_mean.view(-1), self.running_var.view(-1),
                         self.weight.reshape(-1), self.bias.reshape(-1), self.training, self.momentum, self.eps)  # fmt: skip
        return _from_groups(y, s)


class StackedBlocksBatchNorm1d(Stacked):
    """``nets.BlocksBatchNorm1d`` per seed (statistics over each seed's batch)."""

    def __init__(self, mods: list[BlocksBatchNorm1d]) -> None:
        super().__init__()
        self.serial_names = {}
        _same(mods, "eps", "momentum")
        self.eps, self.momentum = mods[0].eps, mods[0].momentum
        self._param("weight", [m.weight for m in mods])
        self._param("bias", [m.bias for m in mods])
        self._buffer("population_mean", [m.population_mean for m in mods])
        self._buffer("population_stdev", [m.population_stdev for m in mods])
        self._sums: tuple[torch.Tensor, torch.Tensor] | None = None
        self._calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [S, B, F]
        w, b = self.weight.unsqueeze(1), self.bias.unsqueeze(1)
        if not self.training:
            return (x - self.population_mean.unsqueeze(1)) * (w / self.population_stdev.unsqueeze(1)) + b
        mean = x.mean(1, keepdim=True)
        stdev = ((x - mean).square().mean(1, keepdim=True) + self.eps).sqrt()
        with torch.no_grad():
            m, s = mean.detach().squeeze(1), stdev.detach().squeeze(1)
            self._sums = (m, s) if self._sums is None else (self._sums[0] + m, self._sums[1] + s)
            self._calls += 1
        return (x - mean) * (w / stdev) + b

    # The same moving-average step as the serial module's, on every seed's statistics at once (the sums
    # and population buffers carry the seed dimension; the arithmetic is element-wise).
    update_population = BlocksBatchNorm1d.update_population

    def select(self, keep: list[int]) -> None:
        if self._sums is not None:
            self._sums = (self._sums[0][keep], self._sums[1][keep])


class StackedMaxout(Stacked):
    def __init__(self, mods: list[Maxout]) -> None:
        super().__init__()
        self.serial_names = {}
        _same(mods, "pieces")
        self.pieces = mods[0].pieces
        self.linear = stack_modules([m.linear for m in mods])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        return y.view(*y.shape[:-1], -1, self.pieces).amax(-1)


class StackedReshape(Stacked):
    def __init__(self, mods: list[Reshape]) -> None:
        super().__init__()
        self.serial_names = {}
        _same(mods, "shape")
        self.shape = mods[0].shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], x.shape[1], *self.shape)


class StackedFlatten(Stacked):
    def __init__(self, mods: list[nn.Flatten]) -> None:
        super().__init__()
        self.serial_names = {}
        _same(mods, "start_dim", "end_dim")
        if mods[0].start_dim != 1 or mods[0].end_dim != -1:
            raise NotVectorisable("only Flatten(1, -1) is stacked")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2)


class StackedDropout(Stacked):
    """``nn.Dropout`` per seed: each seed's mask drawn by ``F.dropout`` from its own generator, as serially.
    ``rng`` (a ``SeedRandom``) is set by the vectorised model that owns the layer."""

    def __init__(self, mods: list[nn.Dropout]) -> None:
        super().__init__()
        self.serial_names = {}
        _same(mods, "p", "inplace")
        self.p = mods[0].p
        self.rng: SeedRandom | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.rng is None:
            raise RuntimeError("StackedDropout needs its seeds' generators (SeedRandom) before training")
        return torch.stack([self.rng.as_global(s, lambda s=s: F.dropout(x[s], self.p, True))
                            for s in range(x.shape[0])])  # fmt: skip


class StackedSequential(nn.Sequential):
    """Stacked children under the serial children's names (no tensors of its own)."""


ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Identity)
_STACKERS = {nn.Linear: StackedLinear, nn.Conv2d: StackedConv2d, nn.ConvTranspose2d: StackedConvTranspose2d,
             nn.BatchNorm1d: StackedBatchNorm, nn.BatchNorm2d: StackedBatchNorm,
             BlocksBatchNorm1d: StackedBlocksBatchNorm1d, Maxout: StackedMaxout, Reshape: StackedReshape,
             nn.Flatten: StackedFlatten, nn.Dropout: StackedDropout}  # fmt: skip


def _base_type(m: nn.Module) -> type:
    """The layer's class; a parametrized layer's original class (``ParametrizedLinear`` -> ``Linear``)."""
    return type(m).__bases__[0] if parametrize.is_parametrized(m) else type(m)


def stack_modules(nets: list[nn.Module]) -> nn.Module:
    """One seed-stacked module computing ``nets[s]`` on slice s of a ``[S, B, ...]`` input.

    Raises:
        NotVectorisable: a layer type with no stacked form, or networks that differ in structure.
    """
    kind = _base_type(nets[0])
    if any(_base_type(m) is not kind for m in nets):
        raise NotVectorisable(f"the seeds' networks differ in structure ({kind.__name__})")
    if kind is nn.Sequential:
        names = list(nets[0]._modules)
        if any(list(m._modules) != names for m in nets):
            raise NotVectorisable("the seeds' networks differ in structure (Sequential children)")
        out = StackedSequential()
        for name in names:
            out.add_module(name, stack_modules([m._modules[name] for m in nets]))
        return out
    if kind in ELEMENTWISE:
        if any(list(m.parameters()) or list(m.buffers()) for m in nets):
            raise NotVectorisable(f"{kind.__name__} with parameters")
        if len({repr(m) for m in nets}) > 1:
            raise NotVectorisable(f"the seeds' {kind.__name__} layers differ")
        return nets[0]  # stateless: the first seed's instance serves every seed
    if kind not in _STACKERS:
        raise NotVectorisable(f"no seed-stacked form of {kind.__name__}")
    return _STACKERS[kind](nets)


def serial_names(stacked: nn.Module) -> dict[str, str]:
    """Every stacked parameter's and buffer's name -> the name of its slices in the serial networks."""
    out = {}
    for prefix, mod in stacked.named_modules():
        for local, serial in getattr(mod, "serial_names", {}).items():
            out[f"{prefix}.{local}" if prefix else local] = f"{prefix}.{serial}" if prefix else serial
    return out


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return {**dict(module.named_parameters()), **dict(module.named_buffers())}


def parameter_names(stacked: nn.Module) -> list[tuple[nn.Parameter, str]]:
    """Each stacked parameter with the name of its slices in the serial networks."""
    names = serial_names(stacked)
    return [(p, names[k]) for k, p in stacked.named_parameters()]


@torch.no_grad()
def unstack_into(stacked: nn.Module, nets: list[nn.Module]) -> None:
    """Copy every stacked tensor's slice s into ``nets[s]`` (parameters and buffers)."""
    names = serial_names(stacked)
    serial = [_tensors(n) for n in nets]
    for k, t in _tensors(stacked).items():
        for s, tensors in enumerate(serial):
            tensors[names[k]].copy_(t[s])


@torch.no_grad()
def select_seeds(stacked: nn.Module, keep: list[int]) -> None:
    """Keep the seeds ``keep`` (positions in the stack), in place: parameters keep their identity."""
    for mod in stacked.modules():
        for name, p in mod._parameters.items():
            if p is not None:
                p.data = p.data[keep]
        for name, b in mod._buffers.items():
            if b is not None:
                mod._buffers[name] = b[keep]
        if isinstance(mod, StackedBlocksBatchNorm1d):
            mod.select(keep)
