"""The whole of torch.nn on the canvas: every public module class of ``torch.nn`` is a node type
in the catalogue, or is on the short list below with the reason it is not.

A class torch adds later fails ``test_every_torch_nn_module_is_catalogued_or_excluded`` until it
is given a spec (checked against its signature by tests/test_catalogue_torch.py) or a reason.
"""

from __future__ import annotations

import inspect

from torch import nn

from torchcanvas.graph.catalogue import CATALOGUE

# Not node types, each with the reason. Lazy modules are left out as a family (LAZY below).
EXCLUDED: dict[str, str] = {
    # base classes and containers: the canvas itself holds and chains the layers
    "Module": "the base class of every layer; a code node holds custom modules",
    "Container": "deprecated base class of the containers",
    "Sequential": "a container: a chain of nodes on the canvas (or a block) is the same",
    "ModuleList": "a container of modules, indexed from Python code",
    "ModuleDict": "a container of modules, looked up from Python code",
    "ParameterList": "holds bare parameters, not a layer",
    "ParameterDict": "holds bare parameters, not a layer",
    "RNNBase": "abstract base of RNN, LSTM and GRU (each a node)",
    "RNNCellBase": "abstract base of RNNCell, LSTMCell and GRUCell",
    # a whole model or a whole run, not a layer
    "DataParallel": "wraps a whole model to split batches over GPUs: a run setting, not a layer",
    # module arguments
    "TransformerEncoder": "built from a TransformerEncoderLayer module passed in, not from "
    "values: chain TransformerEncoderLayer nodes (or make a block)",
    "TransformerDecoder": "built from a TransformerDecoderLayer module passed in, not from "
    "values: chain TransformerDecoderLayer nodes (or make a block)",
    # a layer and a loss at once, or an input no node gives
    "AdaptiveLogSoftmaxWithLoss": "a layer and a loss in one module: it holds learned weights "
    "(the head and the tail clusters) and its forward takes the target and returns (output, "
    "loss). A model's forward here takes the data inputs only and the optimizer trains the "
    "model's parameters only (loss nodes hold none, as for LinearCrossEntropyLoss): use "
    "Linear and Cross-entropy loss nodes",
    # losses
    "NLLLoss2d": "deprecated alias of NLLLoss",
    "LinearCrossEntropyLoss": "a loss with learned weights (a Linear head inside it); the "
    "optimizer trains the model's parameters only: use Linear and "
    "Cross-entropy loss nodes",
}
LAZY = (
    "lazy modules infer their sizes at the first forward; the non-lazy node does the same "
    "with auto params that shape inference fills"
)


def public_modules() -> dict[str, type]:
    """Public ``torch.nn`` names that are module classes."""
    out = {}
    for name in dir(nn):
        obj = getattr(nn, name)
        if not name.startswith("_") and inspect.isclass(obj) and issubclass(obj, nn.Module):
            out[name] = obj
    return out


def catalogued() -> set[str]:
    return {
        s.torch_name.removeprefix("torch.nn.")
        for s in CATALOGUE.values()
        if s.torch_name and s.torch_name.startswith("torch.nn.") and s.kind in ("layer", "loss")
    }


def test_every_torch_nn_module_is_catalogued_or_excluded():
    have = catalogued()
    missing = []
    for name, cls in sorted(public_modules().items()):
        if name in have or name in EXCLUDED:
            continue
        if issubclass(cls, nn.modules.lazy.LazyModuleMixin):
            assert name.removeprefix("Lazy") in have, f"{name}: {LAZY}, but its node is missing"
            continue
        missing.append(name)
    assert not missing, f"torch.nn classes neither in the catalogue nor in EXCLUDED: {missing}"


def test_exclusions_are_real_and_not_catalogued():
    modules = public_modules()
    have = catalogued()
    for name, reason in EXCLUDED.items():
        assert name in modules, f"EXCLUDED names {name}, which torch.nn does not have"
        assert name not in have, f"{name} is both in the catalogue and excluded"
        assert reason
    # the exclusions stay a short list next to what is catalogued
    assert len(EXCLUDED) <= 25 and len(have) >= 130


def test_catalogued_names_are_torch_nn_modules():
    modules = public_modules()
    for name in catalogued():
        assert name in modules, f"nn.{name} is not a public torch.nn module class"


def test_multi_input_modules_have_one_port_per_tensor_argument():
    """Modules that take several tensors have a port for each, in forward's order."""
    ports = {
        t: [p.name for p in CATALOGUE[t].inputs]
        for t in (
            "nn.Transformer",
            "nn.TransformerDecoderLayer",
            "nn.Bilinear",
            "nn.CosineSimilarity",
            "nn.PairwiseDistance",
            "nn.EmbeddingBag",
            "nn.RNNCell",
            "nn.GRUCell",
        )
    }
    assert ports["nn.Transformer"] == ["src", "tgt"]
    assert ports["nn.TransformerDecoderLayer"] == ["tgt", "memory"]
    alias = {"input": "x", "input1": "x1", "input2": "x2"}  # torch's names, the ports' names
    for type_id, names in ports.items():
        forward = inspect.signature(getattr(nn, type_id[3:]).forward).parameters
        first = [alias.get(n, n) for n in forward if n != "self"][: len(names)]
        assert names == first, f"{type_id}: ports {names}, forward takes {first}"
