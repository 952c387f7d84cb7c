"""train.cuda_graph and cyclegan.cuda_graph: a whole training step as one CUDA graph."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from stages.core.errors import UserError

GRAPH_WARMUP_STEPS = 3  # eager steps of each run before the capture


class GraphedStep:
    """A training step recorded once as a CUDA graph, then replayed: one launch per step
    instead of hundreds, for models so small that the host's kernel launches, not the GPU,
    set the pace. Each call's input tensors are copied into the static ones the graph was
    captured with, and the returned tensors are the graph's static outputs, overwritten by
    the next call. The first `warmup` calls run eagerly on a side stream, PyTorch's rule
    before a capture (optimiser state, cuDNN workspaces and the like are made lazily).

    The step may hold no host syncs and no host-drawn randomness; draw inputs outside it."""

    def __init__(
        self, step: Callable[[list], tuple], warmup: int = 3, setting: str = "train.cuda_graph"
    ) -> None:
        self.step = step
        self.setting = setting  # the switch an error names
        self.warmup = warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_inputs: list[tuple[torch.Tensor, ...]] = []
        self.static_outputs: tuple = ()

    def __call__(self, inputs: list[tuple[torch.Tensor, ...]]) -> tuple:
        if self.warmup > 0:
            self.warmup -= 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                outputs = self.step(inputs)
            torch.cuda.current_stream().wait_stream(side)
            return outputs
        if self.graph is None:
            self.static_inputs = [tuple(t if t is None else t.clone() for t in group) for group in inputs]
            self.graph = torch.cuda.CUDAGraph()
            try:
                with torch.cuda.graph(self.graph):  # records the kernels; runs nothing
                    self.static_outputs = self.step(self.static_inputs)
            except RuntimeError as err:  # a host sync or host copy inside the step
                raise UserError(
                    f"{self.setting}: the training step cannot be captured as a CUDA graph "
                    f"({str(err).splitlines()[0]}); run it with {self.setting}=false"
                ) from err
        else:
            for static, new in zip(self.static_inputs, inputs, strict=True):
                for s, t in zip(static, new, strict=True):
                    if t is not None:  # an absent input (None) is absent in every call
                        s.copy_(t)
        self.graph.replay()
        return self.static_outputs


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """The lr of every group: in place where it is a device tensor (a CUDA graph reads it)."""
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


def graph_lr(lr: float, device: torch.device, graphed: bool) -> float | torch.Tensor:
    """An optimiser's lr: in a CUDA graph a device tensor (set_lr writes it in place, the
    replayed step reads it), else the number."""
    return torch.tensor(lr, device=device) if graphed else lr


def lr_in_device_memory(optimizers: list[torch.optim.Optimizer], device: torch.device) -> None:
    """After load_state_dict the groups hold the saved lr as a number; a graph reads a tensor."""
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["lr"] = torch.tensor(float(group["lr"]), device=device)


def make_adam(
    params: Iterable[torch.nn.Parameter],
    lr: float,
    betas: tuple[float, float],
    device: torch.device,
    graphed: bool,
) -> torch.optim.Adam:
    """Adam as both training loops run it: fused on CUDA (CUDA-only kernels; foreach is the
    CPU default), and capturable with its lr in device memory in a CUDA graph."""
    fused = device.type == "cuda"
    return torch.optim.Adam(
        params, lr=graph_lr(lr, device, graphed), betas=betas, fused=fused, capturable=graphed
    )
