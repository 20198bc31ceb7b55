"""What ``train.deterministic`` can promise on CUDA: the backward operations without a
deterministic CUDA kernel, found in a loss's autograd graph.

``torch.use_deterministic_algorithms(True, warn_only=True)`` makes every operation that
has a deterministic kernel use it, and only *warns* about the ones that have none
(torch's documentation of ``use_deterministic_algorithms`` lists them). Among those is
the backward of bilinear ``F.interpolate``, which every geopose preset uses (decoder
and head upsampling): its CUDA kernel accumulates gradients with atomic additions in
whatever order the threads run. On CUDA two identical runs, or a run and its resume,
therefore agree within floating-point rounding, not bit for bit. On a CPU every kernel
that geopose uses is deterministic and the agreement is exact.
"""

from __future__ import annotations

import torch

#: cuBLAS needs a fixed workspace configuration for reproducible matrix products
#: (set in the environment before the first CUDA matrix product when unset).
CUBLAS_WORKSPACE = ":4096:8"

#: Autograd node names (without the trailing version digit) whose CUDA backward has no
#: deterministic implementation, after torch 2.13's ``use_deterministic_algorithms``
#: list (operations that raise with ``warn_only=False``).
CUDA_NONDETERMINISTIC_BACKWARDS = frozenset(
    {
        "UpsampleLinear1DBackward",
        "UpsampleBilinear2DBackward",
        "UpsampleBicubic2DBackward",
        "UpsampleTrilinear3DBackward",
        "UpsampleBilinear2DAaBackward",
        "UpsampleBicubic2DAaBackward",
        "AvgPool3DBackward",
        "AdaptiveAvgPool2DBackward",
        "AdaptiveAvgPool3DBackward",
        "AdaptiveMaxPool2DBackward",
        "FractionalMaxPool2DBackward",
        "FractionalMaxPool3DBackward",
        "MaxPool3DWithIndicesBackward",
        "MaxUnpool1DBackward",
        "MaxUnpool2DBackward",
        "MaxUnpool3DBackward",
        "ReflectionPad1DBackward",
        "ReflectionPad2DBackward",
        "ReflectionPad3DBackward",
        "ReplicationPad1DBackward",
        "ReplicationPad2DBackward",
        "ReplicationPad3DBackward",
        "NllLossBackward",
        "NllLoss2DBackward",
        "CtcLossBackward",
        "EmbeddingBagBackward",
        "GridSampler2DBackward",
        "GridSampler3DBackward",
        "CumsumBackward",
    }
)


def _base_name(node: object) -> str:
    """``UpsampleBilinear2DBackward0`` → ``UpsampleBilinear2DBackward``."""
    return type(node).__name__.rstrip("0123456789")


def cuda_nondeterministic_backwards(root: torch.Tensor) -> set[str]:
    """Names of the operations in ``root``'s autograd graph whose CUDA backward has no
    deterministic kernel (an empty set: on CUDA the backward is reproducible too).

    Walks the graph without running it, so it works on any device, ``meta`` included.
    """
    found: set[str] = set()
    seen: set[int] = set()
    stack = [root.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        name = _base_name(node)
        if name in CUDA_NONDETERMINISTIC_BACKWARDS:
            found.add(name.removesuffix("Backward"))
        stack.extend(next_node for next_node, _ in node.next_functions)
    return found
