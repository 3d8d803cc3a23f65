"""The catalogue as data: every spec complete, consistent and self-valid. Imports no torch."""

from __future__ import annotations

import keyword
import subprocess
import sys

import pytest

from torchcanvas.codegen.emit import LAYER_CALLS, OP_EMITTERS
from torchcanvas.graph.catalogue import CATALOGUE, get_spec, specs_by_category
from torchcanvas.graph.errors import ParamError, UnknownNodeTypeError
from torchcanvas.graph.spec import AUTO, CATEGORIES, NODE_KINDS, ParamSpec

SPECS = sorted(CATALOGUE.values(), key=lambda s: s.type_id)
IDS = [s.type_id for s in SPECS]

# the palette's categories for each kind
KIND_CATEGORIES = {
    "data": {"Data"},
    "io": {"Blocks"},
    "block": {"Blocks"},
    "layer": {"Layers", "Activations", "Pretrained"},
    "op": {"Ops"},
    "loss": {"Losses"},
    "optimizer": {"Optimizers"},
    "scheduler": {"Schedulers"},
    "clip": {"Optimizers"},
    "code": {"Code"},
}
TYPE_PREFIX = {
    "layer": "nn.",
    "op": "op.",
    "loss": "loss.",
    "optimizer": "optim.",
    "scheduler": "sched.",
    "clip": "clip.",
    "data": "data.",
    "io": "io.",
    "block": "block",
    "code": "code.",
}

# types the palette must offer (data types are added by their own module)
REQUIRED = [
    "nn.Linear",
    "nn.Conv1d",
    "nn.Conv2d",
    "nn.Conv3d",
    "nn.ConvTranspose2d",
    "nn.MaxPool1d",
    "nn.MaxPool2d",
    "nn.AvgPool1d",
    "nn.AvgPool2d",
    "nn.AdaptiveAvgPool1d",
    "nn.AdaptiveAvgPool2d",
    "nn.AdaptiveMaxPool2d",
    "nn.BatchNorm1d",
    "nn.BatchNorm2d",
    "nn.LayerNorm",
    "nn.GroupNorm",
    "nn.InstanceNorm2d",
    "nn.Dropout",
    "nn.Dropout2d",
    "nn.Embedding",
    "nn.RNN",
    "nn.LSTM",
    "nn.GRU",
    "nn.Flatten",
    "nn.Unflatten",
    "nn.Identity",
    "nn.Upsample",
    "nn.MultiheadAttention",
    "nn.TransformerEncoderLayer",
    "nn.ReLU",
    "nn.ReLU6",
    "nn.LeakyReLU",
    "nn.PReLU",
    "nn.ELU",
    "nn.SELU",
    "nn.GELU",
    "nn.SiLU",
    "nn.Sigmoid",
    "nn.Tanh",
    "nn.Softmax",
    "nn.LogSoftmax",
    "nn.Softplus",
    "nn.Softsign",
    "nn.Hardswish",
    "nn.Hardsigmoid",
    "nn.Hardtanh",
    "nn.Mish",
    "op.add",
    "op.sub",
    "op.multiply",
    "op.divide",
    "op.matmul",
    "op.concat",
    "op.stack",
    "op.reshape",
    "op.permute",
    "op.transpose",
    "op.squeeze",
    "op.unsqueeze",
    "op.mean",
    "op.sum",
    "op.max",
    "op.select",
    "op.slice",
    "op.scale",
    "op.gram",
    "op.detach",
    "op.clamp",
    "loss.MSE",
    "loss.L1",
    "loss.SmoothL1",
    "loss.Huber",
    "loss.CrossEntropy",
    "loss.NLL",
    "loss.BCE",
    "loss.BCEWithLogits",
    "loss.KLDiv",
    "optim.SGD",
    "optim.Adam",
    "optim.AdamW",
    "optim.RMSprop",
    "optim.Adagrad",
    "sched.StepLR",
    "sched.MultiStepLR",
    "sched.ExponentialLR",
    "sched.CosineAnnealingLR",
    "sched.ReduceLROnPlateau",
    "sched.OneCycleLR",
    "clip.GradNorm",
    "clip.GradValue",
]


def test_catalogue_size():
    assert len(CATALOGUE) >= 70
    non_data = [s for s in SPECS if s.kind not in ("data", "io")]
    assert len(non_data) >= 75, len(non_data)


@pytest.mark.parametrize("type_id", REQUIRED)
def test_required_types_present(type_id):
    assert type_id in CATALOGUE, f"{type_id} is missing from the catalogue"


def test_catalogue_and_codegen_import_no_torch():
    code = (
        "import sys; import torchcanvas.graph, torchcanvas.codegen.emit, torchcanvas.codegen; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6')); "
        "assert not bad, bad"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_get_spec_unknown():
    assert get_spec("nn.Linear") is CATALOGUE["nn.Linear"]
    with pytest.raises(UnknownNodeTypeError, match=r"nn\.NoSuchLayer"):
        get_spec("nn.NoSuchLayer")


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_spec_is_complete(spec):
    t = spec.type_id
    assert spec.kind in NODE_KINDS
    assert spec.category in KIND_CATEGORIES[spec.kind], f"{t}: category {spec.category}"
    prefix = "tv." if spec.extra.get("backbone") else TYPE_PREFIX[spec.kind]
    assert t.startswith(prefix), f"{t}: type id prefix for kind {spec.kind}"
    assert spec.title.strip(), f"{t}: no title"
    assert len(spec.help.strip()) >= 10, f"{t}: help text missing or too short"
    assert "\n" not in spec.help, f"{t}: help should be one line"
    base = spec.label_base
    assert base.isidentifier() and not keyword.iskeyword(base), f"{t}: label base {base!r}"
    assert base == base.lower() and len(base) <= 12, f"{t}: label base {base!r} not short"
    names = [p.name for p in spec.params]
    assert len(set(names)) == len(names), f"{t}: duplicate param names"
    for p in spec.params:
        assert p.name.isidentifier(), f"{t}.{p.name}: not an identifier"
        assert p.help.strip(), f"{t}.{p.name}: no help text"
    ports = [p.name for p in spec.inputs] + [p.name for p in spec.outputs]
    assert len(set(ports)) == len(ports), f"{t}: duplicate port names"


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_defaults_pass_validation(spec):
    assert spec.validate_params({}) == {p.name: p.validate(p.default) for p in spec.params}
    for p in spec.params:
        where = f"{spec.type_id}.{p.name}"
        value = p.validate(p.default)
        assert value == p.default, f"{where}: default {p.default!r} is not normalised"
        assert type(value) is type(p.default), f"{where}: default {p.default!r} is not normalised"
        if p.type == "choice":
            assert p.default in p.choices, f"{spec.type_id}.{p.name}: default not a choice"


def rule_from_data(p) -> bool:
    return p.auto.from_data is not None


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_auto_and_required_params(spec):
    for p in spec.params:
        where = f"{spec.type_id}.{p.name}"
        if p.auto is not None:
            # a shape-derived one defaults to auto; one read from the data may offer auto
            # beside a number (a Linear's out_features: auto only where it scores classes)
            assert p.default == AUTO or rule_from_data(p), (
                f"{where}: an auto param defaults to auto"
            )
            assert p.validate(AUTO) == AUTO
            rule = p.auto
            if rule.from_data is None:
                assert rule.port in {q.name for q in spec.inputs}, (
                    f"{where}: auto rule reads port {rule.port!r}, which does not exist"
                )
        elif p.default == AUTO:
            pytest.fail(f"{where}: defaults to auto without an auto rule")
        if p.required:
            assert p.ctor, f"{where}: required but not a constructor argument"
            assert not p.optional, f"{where}: required params cannot be empty"
    # required params come first among constructor params (they are passed positionally)
    ctor = [p for p in spec.params if p.ctor]
    flags = [p.required for p in ctor]
    assert flags == sorted(flags, reverse=True), (
        f"{spec.type_id}: required params after optional ones"
    )


def test_layers_and_ops():
    for spec in SPECS:
        if spec.kind == "op":
            assert spec.type_id in OP_EMITTERS, f"{spec.type_id}: no emitter in codegen"
            assert [p.name for p in spec.outputs] == ["out"], spec.type_id
            assert spec.torch_name is None, spec.type_id
            assert spec.inputs and not any(p.multi for p in spec.inputs), spec.type_id
        elif spec.extra.get("backbone"):  # torchvision: tests/test_backbones.py
            assert spec.torch_name is None and spec.kind == "layer", spec.type_id
        elif spec.kind == "layer" and spec.extra.get("module"):  # a class model.py defines
            assert spec.torch_name is None, spec.type_id
        elif spec.kind == "layer":
            assert spec.torch_name == "torch.nn." + spec.type_id.removeprefix("nn."), spec.type_id
            assert spec.outputs, spec.type_id
        elif spec.kind in ("loss", "optimizer", "scheduler", "clip"):
            assert spec.torch_name, f"{spec.type_id}: no torch_name"
    for type_id in LAYER_CALLS:
        assert type_id in CATALOGUE, f"LAYER_CALLS has {type_id}, which is not in the catalogue"
    for type_id in OP_EMITTERS:
        assert type_id in CATALOGUE, f"OP_EMITTERS has {type_id}, which is not in the catalogue"


def test_specs_by_category():
    groups = specs_by_category()
    assert list(groups) == [c for c in CATEGORIES if c in groups]
    for category in ("Layers", "Activations", "Ops", "Losses", "Optimizers", "Schedulers"):
        assert groups.get(category), f"palette category {category} is empty"
    assert sum(len(v) for v in groups.values()) == len(CATALOGUE)
    for specs in groups.values():
        titles = [s.title.lower() for s in specs]
        assert titles == sorted(titles)
    # networks that load pretrained weights share one group, one node type per job
    pretrained = [s.type_id for s in groups["Pretrained"]]
    assert pretrained == ["tv.Backbone", "nn.VGG16Features"]


# losses that take more than (input, target): one port per forward argument, in torch's order
MULTI_INPUT_LOSSES = {
    "loss.GaussianNLL": ["input", "target", "var"],
    "loss.CosineEmbedding": ["input1", "input2", "target"],
    "loss.MarginRanking": ["input1", "input2", "target"],
    "loss.TripletMargin": ["anchor", "positive", "negative"],
    "loss.TripletMarginWithDistance": ["anchor", "positive", "negative"],
    "loss.CTC": ["log_probs", "targets", "input_lengths", "target_lengths"],
}


def test_kind_specific_extras():
    tasks = {"regression", "classification", "binary", "other"}
    for spec in SPECS:
        if spec.kind == "loss":
            assert spec.extra.get("task") in tasks, spec.type_id
            ports = [p.name for p in spec.inputs]
            assert ports == MULTI_INPUT_LOSSES.get(spec.type_id, ["input", "target"]), ports
            scale = spec.param("scale")
            assert scale.ctor is False and scale.default == 1.0
            assert spec.param("reduction").default in spec.param("reduction").choices
        if spec.kind == "scheduler":
            assert spec.extra.get("step") in ("epoch", "batch", "plateau"), spec.type_id
    assert CATALOGUE["sched.ReduceLROnPlateau"].extra["step"] == "plateau"
    assert CATALOGUE["sched.OneCycleLR"].extra["step"] == "batch"
    assert CATALOGUE["sched.StepLR"].extra["step"] == "epoch"
    assert CATALOGUE["loss.CrossEntropy"].extra["task"] == "classification"
    assert CATALOGUE["loss.BCEWithLogits"].extra["task"] == "binary"
    assert CATALOGUE["loss.KLDiv"].extra["task"] == "other"
    assert CATALOGUE["loss.Huber"].extra["task"] == "regression"


def test_recurrent_layers_share_the_lstm_pattern():
    for t in ("nn.RNN", "nn.LSTM", "nn.GRU"):
        spec = CATALOGUE[t]
        assert spec.type_id in LAYER_CALLS
        out = spec.param("output")
        assert out.ctor is False and out.choices == ("sequence", "last_step", "hidden")
        bf = spec.param("batch_first")
        assert bf.default is True and bf.upstream_default is False
    assert CATALOGUE["nn.RNN"].param("nonlinearity").choices == ("tanh", "relu")


def test_shape_derived_params():
    def rule(t, name):
        return CATALOGUE[t].param(name).auto

    assert rule("nn.Linear", "in_features").dim == -1
    assert rule("nn.Conv2d", "in_channels").dim == 1
    assert rule("nn.BatchNorm2d", "num_features").dim == 1
    ln = CATALOGUE["nn.LayerNorm"].param("normalized_shape")
    assert ln.type == "ints" and ln.auto.dim == -1 and ln.auto.as_list
    emb = CATALOGUE["nn.Embedding"].param("num_embeddings")
    assert emb.auto.from_data == "vocab_size" and emb.required
    attn = rule("nn.MultiheadAttention", "embed_dim")
    assert (attn.port, attn.dim) == ("query", -1)


# ---------------------------------------------------------------------------- ParamSpec.validate
@pytest.mark.parametrize(
    ("spec", "value", "fragment"),
    [
        (ParamSpec("units", "int", 1, minimum=1), 0, "out of range"),
        (ParamSpec("units", "int", 1, minimum=1, maximum=8), 9, "out of range"),
        (ParamSpec("units", "int", 1), 1.5, "whole number"),
        (ParamSpec("units", "int", 1), True, "whole number"),
        (ParamSpec("units", "int", 1), "3", "whole number"),
        (ParamSpec("rate", "float", 0.1, minimum=0.0, min_exclusive=True), 0.0, "> 0"),
        (ParamSpec("rate", "float", 0.1), "fast", "number"),
        (ParamSpec("rate", "float", 0.1), float("nan"), "finite"),
        (ParamSpec("flag", "bool", False), 1, "true or false"),
        (ParamSpec("mode", "choice", "a", choices=("a", "b")), "c", "not allowed"),
        (ParamSpec("kernel", "size", 3, minimum=1, length=(2, 2)), [3, 3, 3], "2 values"),
        (ParamSpec("kernel", "size", 3, minimum=1), [3, 0], "out of range"),
        (ParamSpec("dims", "ints", [1]), 1, "a list"),
        (ParamSpec("names", "strs", []), [1], "text"),
        (ParamSpec("text", "str", ""), 3, "text"),
        (ParamSpec("units", "int", 1), None, "required"),
    ],
)
def test_validate_refuses(spec, value, fragment):
    with pytest.raises(ParamError, match=fragment) as info:
        spec.validate(value, node_id="n1")
    assert info.value.name == spec.name
    assert str(info.value).startswith(f"node 'n1': {spec.name}:")


def test_validate_accepts_and_normalises():
    assert ParamSpec("rate", "float", 0.1).validate(1) == 1.0
    assert isinstance(ParamSpec("rate", "float", 0.1).validate(1), float)
    assert ParamSpec("units", "int", 1).validate(4.0) == 4
    assert ParamSpec("kernel", "size", 3).validate((3, 5)) == [3, 5]
    assert ParamSpec("dim", "int", None, optional=True).validate(None) is None
    auto = CATALOGUE["nn.Linear"].param("in_features")
    assert auto.validate(AUTO) == AUTO
    assert auto.validate(12) == 12
    with pytest.raises(ParamError, match="in_features"):
        auto.validate(0)
    # "auto" is only a value for auto params
    with pytest.raises(ParamError, match="out_channels"):
        CATALOGUE["nn.Conv2d"].param("out_channels").validate(AUTO)


def test_catalogue_params_refuse_bad_values():
    conv = CATALOGUE["nn.Conv2d"]
    with pytest.raises(ParamError, match="kernel_size"):
        conv.validate_params({"kernel_size": 0})
    with pytest.raises(ParamError, match="padding_mode"):
        conv.validate_params({"padding_mode": "mirror"})
    with pytest.raises(ParamError, match="nonsense"):
        conv.validate_params({"nonsense": 1})
    with pytest.raises(ParamError, match="p: "):
        CATALOGUE["nn.Dropout"].validate_params({"p": 1.5})
    with pytest.raises(ParamError, match="lr"):
        CATALOGUE["optim.Adam"].validate_params({"lr": 0})
    with pytest.raises(ParamError, match="betas"):
        CATALOGUE["optim.Adam"].validate_params({"betas": [0.9]})
    with pytest.raises(ParamError, match="reduction"):
        CATALOGUE["loss.MSE"].validate_params({"reduction": "batchmean"})
    assert CATALOGUE["loss.KLDiv"].validate_params({"reduction": "batchmean"})


def test_every_layer_has_a_palette_group():
    from torchcanvas.graph.catalogue import GROUPS, grouped, specs_by_category

    layers = specs_by_category()["Layers"]
    for spec in layers:
        assert spec.extra.get("group") in GROUPS, f"{spec.type_id}: no palette group"
    groups = grouped(layers)
    assert [g for g, _ in groups] == [g for g in GROUPS if any(g == n for n, _ in groups)]
    assert sum(len(members) for _, members in groups) == len(layers)
    # each group keeps the palette's title order
    for _, members in groups:
        assert [s.title.lower() for s in members] == sorted(s.title.lower() for s in members)
