"""Graph → train.py: data, losses, optimizer, scheduler, clipping, seed, checkpoints, the loop,
and a torchrun (DistributedDataParallel) path.

The functions above ``main`` (``make_datasets``, ``make_loader``, ``build_losses``,
``compute_loss``, ``build_optimizer``, ``build_scheduler``, ``train_step``, ``end_epoch``,
``evaluate``) are also what the app's trainer calls, so training in the app and running the
exported script do the same work in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torchcanvas.codegen.data import data_code, resolve_path, text_inference_code, text_task
from torchcanvas.codegen.emit import CodegenError, call, ctor_args, doc_text, literal, quote
from torchcanvas.codegen.model import ModelIR, tuple_lines, wrap
from torchcanvas.codegen.names import Namespace
from torchcanvas.codegen.plan import TrainPlan, training_plan
from torchcanvas.graph.document import Graph
from torchcanvas.graph.settings import SPEED_SETTINGS

MODEL_IMPORT = "from model import {name}\n"

_BASE_IMPORTS = """
import argparse
import hashlib
import json
import os
import sys
import warnings
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler
"""

LOOP = '''
class EpochSampler(DistributedSampler):
    """A DistributedSampler whose order is fixed by (seed, epoch), as ``set_epoch`` sets it.

    Each of the ``world`` ranks takes every world-th sample of the same order (padded so all
    get the same number); it can also start mid-epoch (resuming) and draw class-balanced
    samples (``weights``). ``data`` is the data set or its length.
    """

    def __init__(
        self, data, *, seed, epoch=0, start=0, shuffle=True, weights=None, rank=0, world=1
    ):
        self.n = data if isinstance(data, int) else len(data)
        super().__init__(range(self.n), num_replicas=world, rank=rank, shuffle=shuffle, seed=seed)
        self.start, self.weights = start, weights
        self.set_epoch(epoch)

    def order(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        if self.weights is not None:
            idx = torch.multinomial(self.weights, self.n, replacement=True, generator=g)
        elif self.shuffle:
            idx = torch.randperm(self.n, generator=g)
        else:
            idx = torch.arange(self.n)
        world = self.num_replicas
        if world > 1:  # pad so every rank gets the same number of samples
            per_rank = -(-self.n // world)
            idx = torch.cat([idx, idx[: per_rank * world - self.n]])[self.rank :: world]
        return idx

    def __iter__(self):
        return iter(self.order()[self.start :].tolist())

    def __len__(self) -> int:
        return max(len(self.order()) - self.start, 0)


def targets_of(dataset) -> torch.Tensor:
    """Class index of every sample, for weighted sampling."""
    if isinstance(dataset, torch.utils.data.Subset):
        return targets_of(dataset.dataset)[torch.as_tensor(dataset.indices)]
    if isinstance(dataset, torch.utils.data.TensorDataset):
        return dataset.tensors[1]
    if hasattr(dataset, "targets"):
        return torch.as_tensor(dataset.targets)
    return torch.as_tensor([int(dataset[i][1]) for i in range(len(dataset))])


def sample_weights(dataset) -> torch.Tensor:
    """Weights that make every class equally likely to be drawn."""
    targets = targets_of(dataset).long()
    counts = torch.bincount(targets).clamp_min(1).double()
    return (1.0 / counts)[targets]


def make_loader(dataset, *, train, epoch=0, start_batch=0, rank=0, world=1, weights=None):
    """The DataLoader for one epoch, starting at batch ``start_batch``."""
    batch_size = SETTINGS["batch_size"]
    sampler = EpochSampler(
        dataset,
        seed=SETTINGS["seed"],
        start=start_batch * batch_size,
        shuffle=train and SHUFFLE,
        weights=weights if train else None,
        rank=rank,
        world=world,
    )
    sampler.set_epoch(epoch)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=SETTINGS["num_workers"],
        pin_memory=SETTINGS["pin_memory"],  # configure() allows it on CUDA only
        # its own generator: starting an epoch leaves the global RNG (dropout, augmentation)
        # untouched, so a run resumed mid-epoch continues exactly
        generator=torch.Generator().manual_seed(SETTINGS["seed"] * 100_003 + epoch + 1),
    )
'''

# the same in every generated train.py (the style-transfer one too)
SAVE_CHECKPOINT = """\
def save_checkpoint(path, model, optimizer, scheduler, scaler, epoch, batch, history) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict(),
        "epoch": epoch,
        "batch": batch,
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "history": history,
        "settings": SETTINGS,
    }
    tmp = Path(str(path) + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
"""

# the speed settings: the same in every generated train.py (the style-transfer one too); the
# checks an optimizer adds go where {optimizer_checks} stands
SPEED = '''

SPEED_SETTINGS = (
    "precision",
    "compile",
    "compile_mode",
    "channels_last",
    "pin_memory",
    "cudnn_benchmark",
)
PRECISION_DTYPES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def add_speed_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags for the speed settings; without them the project's choices apply."""
    on_off = argparse.BooleanOptionalAction
    parser.add_argument(
        "--precision",
        choices=list(PRECISION_DTYPES),
        default=SETTINGS["precision"],
        help="mixed precision: bf16 (CPU or CUDA), fp16 (CUDA) or off",
    )
    parser.add_argument("--compile", action=on_off, default=SETTINGS["compile"])
    parser.add_argument(
        "--compile-mode",
        choices=["default", "reduce-overhead", "max-autotune"],
        default=SETTINGS["compile_mode"],
    )
    parser.add_argument("--channels-last", action=on_off, default=SETTINGS["channels_last"])
    parser.add_argument("--pin-memory", action=on_off, default=SETTINGS["pin_memory"])
    parser.add_argument("--cudnn-benchmark", action=on_off, default=SETTINGS["cudnn_benchmark"])


def configure(device: torch.device) -> list[str]:
    """Check the speed settings against ``device`` and set cuDNN's benchmark mode.

    Raises ValueError naming a setting that ``device`` cannot honour; returns notices.
    """
    precision, notices = SETTINGS["precision"], []
    if device.type != "cuda":
        if precision == "fp16":
            raise ValueError(f"precision: fp16 needs a CUDA device; on {device.type} use bf16")
        if SETTINGS["pin_memory"]:
            raise ValueError(
                f"pin_memory: pinned memory speeds up copies to a CUDA device; turn it off "
                f"to train on {device.type}"
            )
        if SETTINGS["cudnn_benchmark"]:
            notices.append(f"cudnn_benchmark: cuDNN is CUDA only; it does nothing on {device.type}")
    else:
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            raise ValueError("precision: this GPU has no bfloat16 arithmetic; use fp16")
        torch.backends.cudnn.benchmark = SETTINGS["cudnn_benchmark"]
{optimizer_checks}    return notices


def prepare_model(model: nn.Module) -> nn.Module:
    """The model in the channels-last memory format and compiled, when SETTINGS ask (in place:
    its state_dict keeps its names)."""
    if SETTINGS["channels_last"]:
        model.to(memory_format=torch.channels_last)
    if SETTINGS["compile"]:
        model.compile(mode=SETTINGS["compile_mode"])
    return model


def make_scaler(device: torch.device) -> torch.amp.GradScaler:
    """Scales fp16 losses so that small gradients do not underflow; does nothing otherwise."""
    return torch.amp.GradScaler(device.type, enabled=SETTINGS["precision"] == "fp16")


def autocast(device: torch.device):
    """Mixed precision for the forward pass and the loss (SETTINGS["precision"])."""
    dtype = PRECISION_DTYPES[SETTINGS["precision"]]
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch tensor on ``device``; images (4-d) channels-last when SETTINGS ask."""
    if SETTINGS["channels_last"] and tensor.dim() == 4:
        return tensor.to(device, non_blocking=True, memory_format=torch.channels_last)
    return tensor.to(device, non_blocking=True)
'''

LBFGS_CHECKS = """    if precision == "fp16":
        raise ValueError(
            "precision: L-BFGS re-evaluates the loss in a closure, which the fp16 gradient "
            "scaler cannot scale; use bf16"
        )
    if SETTINGS["channels_last"]:
        raise ValueError("channels_last: L-BFGS needs contiguous parameters; turn it off")
"""


def speed_section(plan: TrainPlan) -> str:
    """The speed settings' flags and helpers for ``plan``'s train.py."""
    lbfgs = plan.optimizer.type_id == "optim.LBFGS"
    return SPEED.replace("{optimizer_checks}", LBFGS_CHECKS if lbfgs else "")


MAIN = (
    '''

def pick_device(setting: str, local_rank: int = 0) -> torch.device:
    """auto: CUDA when present, then Apple MPS, else the CPU."""
    if setting == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if setting.startswith("cuda") and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", local_rank)  # under torchrun: one GPU per process
    return torch.device(setting)


'''
    + SAVE_CHECKPOINT
    + '''

def weights_digest(model: nn.Module) -> str:
    """SHA-256 of every parameter and buffer: the same on all ranks while they agree."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def open_tensorboard(log_dir: Path, model: nn.Module, inputs: tuple):
    """A TensorBoard SummaryWriter on ``log_dir`` holding the model graph, traced on ``inputs``.

    Imported here: only --tensorboard needs the tensorboard package.
    """
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir)
    model.eval()  # tracing moves no batch-norm statistics and, with fork_rng, no random state
    try:
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # add_graph calls the deprecated torch.jit.trace
            writer.add_graph(model, inputs)
    except Exception as exc:  # a model that cannot be traced still gets its scalars
        print(f"tensorboard: the model graph was left out ({exc})", file=sys.stderr)
    model.train()
    return writer


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"])
    parser.add_argument("--device", default=SETTINGS["device"])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--out", type=Path, default=Path("checkpoints"))
    parser.add_argument("--resume", type=Path, help="continue from a checkpoint.pt")
    parser.add_argument(
        "--tensorboard",
        action=argparse.BooleanOptionalAction,
        default=SETTINGS["tensorboard"],
        help="write TensorBoard event files to OUT/tensorboard (needs the tensorboard package)",
    )
    add_speed_arguments(parser)
    args = parser.parse_args(argv)
    SETTINGS.update({name: getattr(args, name) for name in SPEED_SETTINGS})

    distributed = "LOCAL_RANK" in os.environ  # started by torchrun, even as one process
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(args.device, local_rank)
    try:
        notices = configure(device)
    except ValueError as exc:
        parser.error(str(exc))
    if distributed:  # one process per rank
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if rank == 0:
        for notice in notices:
            print(notice, file=sys.stderr)

    torch.manual_seed(SETTINGS["seed"])
    model = prepare_model(MODEL_CLASS().to(device))
    train_set, val_set, _ = make_datasets(args.data_dir)
    losses = build_losses().to(device)
    optimizer = build_optimizer(model)
    steps_per_epoch = -(-len(train_set) // (SETTINGS["batch_size"] * world))
    scheduler = build_scheduler(optimizer, steps_per_epoch, args.epochs)
    scaler = make_scaler(device)
    weights = sample_weights(train_set) if WEIGHTED_SAMPLING else None

    start_epoch, start_batch, history = 0, 0, []
    if args.resume:
        state = torch.load(args.resume, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start_epoch, start_batch, history = state["epoch"], state["batch"], state["history"]
        torch.set_rng_state(state["rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
    net = model
    if distributed:
        ids = [device.index] if device.type == "cuda" else None
        net = DistributedDataParallel(model, device_ids=ids)
    if rank == 0:
        args.out.mkdir(parents=True, exist_ok=True)
    writer, step = None, start_epoch * steps_per_epoch + start_batch
    if args.tensorboard and rank == 0:
        example = next(iter(make_loader(val_set if len(val_set) else train_set, train=False)))
        writer = open_tensorboard(args.out / "tensorboard", model, model_inputs(example, device))

    for epoch in range(start_epoch, args.epochs):
        net.train()
        loader = make_loader(
            train_set,
            train=True,
            epoch=epoch,
            start_batch=start_batch,
            rank=rank,
            world=world,
            weights=weights,
        )
        total, count = torch.zeros((), device=device), 0
        for batch in loader:
            loss, _, target = train_step(net, losses, optimizer, scheduler, scaler, batch, device)
            total += loss * len(target)
            count += len(target)
            step += 1
            if writer is not None:
                writer.add_scalar("step/train_loss", loss.item(), step)
                writer.add_scalar("step/lr", optimizer.param_groups[0]["lr"], step)
        if distributed:  # the training loss over every rank's samples
            counts = torch.tensor([float(count)], device=device)
            dist.all_reduce(total)
            dist.all_reduce(counts)
            count = int(counts.item())
        start_batch = 0
        val_loader = make_loader(val_set, train=False)
        val_loss, prediction, target = evaluate(model, losses, val_loader, device)
        end_epoch(scheduler, val_loss)
        record = {
            "epoch": epoch + 1,
            "train_loss": (total / max(count, 1)).item(),
            "val_loss": val_loss,
            **metrics(prediction, target),
        }
        history.append(record)
        if writer is not None:
            for key, value in record.items():
                if key != "epoch":
                    writer.add_scalar(f"epoch/{key}", value, epoch + 1)
        if rank == 0:
            print(json.dumps(record))
            checkpoint = args.out / "checkpoint.pt"
            save_checkpoint(checkpoint, model, optimizer, scheduler, scaler, epoch + 1, 0, history)
            torch.save(model.state_dict(), args.out / "weights.pt")
    if writer is not None:  # the HParams tab: what was trained, with its final metrics
        hparams = {
            "optimizer": type(optimizer).__name__,
            "lr": optimizer.defaults["lr"],
            "epochs": args.epochs,
            **{name: SETTINGS[name] for name in ("batch_size", "seed", "precision", "val_split")},
        }
        final = {f"hparam/{k}": v for k, v in (history[-1] if history else {}).items()}
        final.pop("hparam/epoch", None)
        writer.add_hparams(hparams, final, run_name=".")
        writer.close()
    if distributed:
        # DistributedDataParallel keeps the ranks in step; check it before leaving (a tensor
        # gather: gloo's all_gather_object can abort a process as it exits)
        digest = bytes.fromhex(weights_digest(model))
        mine = torch.tensor(list(digest), dtype=torch.uint8, device=device)
        gathered = [torch.empty_like(mine) for _ in range(world)]
        dist.all_gather(gathered, mine)
        digests = [bytes(t.tolist()).hex() for t in gathered]
        if len(set(digests)) > 1:
            raise RuntimeError(f"the ranks ended with different weights: {digests}")
        if rank == 0:
            print(json.dumps({"world_size": world, "weights_sha256": digests[0]}))
        dist.destroy_process_group()
        # Everything is saved: leave without interpreter teardown, where gloo's threads can
        # abort a finished process ("terminate called without an active exception").
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
'''
)


LOAD_TRAINED = '''

def load_trained(folder: Path, device: str = "auto"):
    """The trained model (weights.pt) and its vocabulary (vocab.json) in ``folder``."""
    model = MODEL_CLASS()
    state = torch.load(Path(folder) / "weights.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.to(pick_device(device)), Vocab.load(Path(folder) / "vocab.json")
'''

# what train.py of a text project adds to main(): the vocabulary saved beside the weights, and
# generating (language model) or predicting (classifier) with trained weights instead of training
_TEXT_ARGS = {
    "generate": """    parser.add_argument(
        "--generate",
        metavar="PROMPT",
        help="continue PROMPT with the weights in --out instead of training",
    )
    parser.add_argument("--length", type=int, default=200, help="tokens to generate")
    parser.add_argument("--temperature", type=float, default=0.8, help="sampling temperature")
    parser.add_argument("--top-k", type=int, default=0, help="sample from the k likeliest (0: all)")
""",
    "classify": """    parser.add_argument(
        "--predict",
        metavar="TEXT",
        help="classify TEXT with the weights in --out instead of training",
    )
""",
}
_TEXT_RUN = {
    "generate": """    if args.generate is not None:
        model, vocab = load_trained(args.out, args.device)
        text = generate(model, vocab, args.generate, args.length, args.temperature, args.top_k)
        print(args.generate + text)
        return
""",
    "classify": """    if args.predict is not None:
        model, vocab = load_trained(args.out, args.device)
        label, probability = predict(model, vocab, args.predict)
        print(f"{label} ({probability:.1%})")
        return
""",
}
_PARSED = "    args = parser.parse_args(argv)\n"
_DATA = "    train_set, val_set, _ = make_datasets(args.data_dir)\n"


def _text_main(main: str, task: str) -> str:
    assert _PARSED in main and _DATA in main
    main = main.replace(_PARSED, _TEXT_ARGS[task] + _PARSED + _TEXT_RUN[task])
    return main.replace(
        _DATA,
        _DATA
        + (
            "    if rank == 0:\n"
            "        args.out.mkdir(parents=True, exist_ok=True)\n"
            '        train_set.vocab.save(args.out / "vocab.json")\n'
        ),
    )


@dataclass
class GeneratedTrain:
    source: str
    line_map: dict[int, str]


class ScriptLines:
    """A generated script being written: lines with the node each comes from."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str | None]] = []  # (text, node id)

    def add(self, block: str | list, node_id: str | None = None) -> None:
        """Append text; a list holds lines, or (line, node id) pairs for the line map."""
        items = block.split("\n") if isinstance(block, str) else block
        for item in items:
            self.lines.append(item if isinstance(item, tuple) else (item, node_id))

    def finish(self) -> GeneratedTrain:
        """At most two blank lines in a row, none at the end; then number the lines."""
        kept: list[tuple[str, str | None]] = []
        for text, nid in self.lines:
            if not text.strip() and len(kept) >= 2 and not kept[-1][0] and not kept[-2][0]:
                continue
            kept.append((text.rstrip(), nid))
        while kept and not kept[-1][0]:
            kept.pop()
        line_map = {i: nid for i, (_, nid) in enumerate(kept, start=1) if nid}
        return GeneratedTrain("\n".join(text for text, _ in kept) + "\n", line_map)


def generate_project_train(
    graph: Graph, ir: ModelIR, project_dir: Path | None = None, title: str = ""
) -> tuple[TrainPlan, GeneratedTrain]:
    """The training plan and train.py of ``graph``, with data paths made absolute against the
    project's folder: what the app trains and what export writes."""
    plan = training_plan(graph)
    if plan.optimises_image:
        from torchcanvas.codegen.style_train import generate_style_train

        return plan, generate_style_train(graph, plan, ir, project_dir, title)
    return plan, generate_train(graph, plan, ir, resolve_path(plan.data, project_dir), title)


def _imports(*blocks: str) -> str:
    """Merge import lines and sort them into standard-library and third-party groups."""
    plain: dict[str, set[str]] = {}
    froms: dict[str, set[str]] = {}
    for block in blocks:
        for line in block.strip().splitlines():
            line = line.strip()
            if not line:
                continue
            if line.startswith("import "):
                plain.setdefault(line, set())
            else:
                mod, names = line.removeprefix("from ").split(" import ")
                froms.setdefault(mod, set()).update(n.strip() for n in names.split(","))
    stdlib = {
        "argparse",
        "collections",
        "csv",
        "hashlib",
        "json",
        "math",
        "os",
        "pathlib",
        "random",
        "re",
        "sys",
        "warnings",
    }

    def group(std: bool) -> list[str]:
        lines = sorted(line for line in plain if (line.split()[1].split(".")[0] in stdlib) == std)
        lines += [
            f"from {m} import {', '.join(sorted(froms[m], key=_member_key))}"
            for m in sorted(froms)
            if (m.split(".")[0] in stdlib) == std
        ]
        return lines

    return "\n".join(group(True)) + "\n\n" + "\n".join(group(False)) + "\n"


def _member_key(name: str) -> tuple:
    base = name.split(" as ")[0]
    kind = 0 if base.isupper() else 1 if base[:1].isupper() else 2
    return (kind, base.lower())


def generate_train(
    graph: Graph, plan: TrainPlan, ir: ModelIR, data_path: str | None = None, title: str = ""
) -> GeneratedTrain:
    """The train.py source for ``graph``. ``ir`` is the model IR from codegen.model."""
    settings = graph.settings
    data_imports, data_body = data_code(plan.data, data_path)
    script = ScriptLines()
    add = script.add

    name = ir.class_name
    doc = title or f"Train {name}"
    add(
        f'"""{doc_text(doc)}: training script generated by torchcanvas.\n\n'
        "Run it with `python train.py`, or on several processes or GPUs with\n"
        "`torchrun --nproc_per_node 2 train.py`. Checkpoints go to --out (checkpoints/).\n"
        '"""\n'
    )
    add(_imports(_BASE_IMPORTS, data_imports))
    add(MODEL_IMPORT.format(name=name))
    add(f"MODEL_CLASS = {name}")
    settings_items = {
        k: settings[k]
        for k in (
            "epochs",
            "batch_size",
            "seed",
            "val_split",
            "device",
            "num_workers",
            *SPEED_SETTINGS,
            "tensorboard",
        )
    }
    add("SETTINGS = {")
    for k, v in settings_items.items():
        add(f'    "{k}": {literal(v)},')
    add("}")
    add(f"SHUFFLE = {literal(plan.data.params.get('shuffle', True))}")
    add(f"WEIGHTED_SAMPLING = {literal(plan.data.params.get('weighted_sampling', False))}")
    add('DATA_DIR = Path(__file__).resolve().parent / "data"')
    add("\n\n" + data_body, plan.data.id)
    text = text_task(plan.data)
    if text is not None:
        add(text_inference_code(plan.data) + LOAD_TRAINED)
    add(speed_section(plan))
    add(LOOP)
    add(_losses_section(plan, ir))
    add(_optim_section(plan))
    add(_metrics_section(plan))
    add(_text_main(MAIN, text) if text else MAIN)
    return script.finish()


def _loss_ctor(term) -> str:
    spec = term.node.spec
    args, kwargs = ctor_args(spec, term.node.params, term.node.id)
    return call("nn." + spec.torch_name.removeprefix("torch.nn."), args, kwargs)


def _losses_section(plan: TrainPlan, ir: ModelIR) -> list:
    keys = Namespace()
    loss_keys = [keys.name(t.node.label, key=t.node.id, fallback="loss") for t in plan.losses]
    out: list = [
        "",
        "",
        "def build_losses() -> nn.ModuleDict:",
        '    """The loss modules, by name."""',
    ]
    entries = [
        (f"{quote(key)}: {_loss_ctor(term)}", term.node.id)
        for key, term in zip(loss_keys, plan.losses, strict=True)
    ]
    one_line = f"    return nn.ModuleDict({{{', '.join(e for e, _ in entries)}}})"
    if len(one_line) <= 100:
        out.append((one_line, entries[0][1] if len(entries) == 1 else None))
    else:  # the layout ruff format gives
        out += ["    return nn.ModuleDict(", "        {"]
        out += [(f"            {e},", nid) for e, nid in entries]
        out += ["        }", "    )"]

    # batch layout: the data node's outputs, in port order
    data_ports = [p.name for p in plan.data.spec.outputs]
    local = Namespace()
    batch_vars = {(plan.data.id, p): local.name(p) for p in data_ports}
    out += [
        "",
        "",
        "def compute_loss(model, losses, batch, device):",
        '    """Forward one batch; returns (loss, prediction, target) of the first loss."""',
        f"    {', '.join(batch_vars.values())} = (to_device(t, device) for t in batch)",
    ]
    args = []
    for _, value in ir.inputs:
        if value not in batch_vars:
            raise CodegenError("the model's input must come from the data node", value[0])
        args.append(batch_vars[value])
    outputs = {}
    for returned, value in ir.outputs:
        # several outputs: the names the model's forward returns them under
        outputs[value] = local.name("prediction" if len(ir.outputs) == 1 else returned)
    out += tuple_lines("", list(outputs.values()), f" = model({', '.join(args)})", "    ")
    env = {**batch_vars, **outputs}
    for i, (key, term) in enumerate(zip(loss_keys, plan.losses, strict=True)):
        for end in term.call_args:
            if end not in env:
                raise CodegenError(
                    f"{term.node.label}: its inputs must come from the model or the data node",
                    term.node.id,
                )
        expr = f"losses[{quote(key)}]({', '.join(env[end] for end in term.call_args)})"
        if term.node.params.get("reduction") == "none":
            expr += ".mean()"
        if term.scale != 1.0:
            expr = f"{literal(term.scale)} * {expr}"
        # one line per loss, so a fault in a loss points at its node
        out.append((f"    loss = {expr}" if i == 0 else f"    loss = loss + {expr}", term.node.id))
    first = plan.losses[0]
    out.append(f"    return loss, {env[first.input]}, {env[first.target]}")
    if plan.optimises_image:  # its model takes no batch
        return out
    items = [f"to_device(batch[{data_ports.index(value[1])}], device)" for _, value in ir.inputs]
    out += [
        "",
        "",
        "def model_inputs(batch, device) -> tuple:",
        '    """The model\'s arguments from one batch (to trace its graph for TensorBoard)."""',
        *(
            [f"    return ({items[0]},)"]
            if len(items) == 1
            else tuple_lines("    return ", items, "", "    ")
        ),
    ]
    return out


def _optim_section(plan: TrainPlan, evaluate: bool = True) -> list:
    opt = plan.optimizer
    _, kwargs = ctor_args(opt.spec, opt.params, opt.id, keywords=True)
    kwargs = {"lr": opt.params["lr"], **kwargs}  # always spelled: the first thing to tune
    opt_call = call(opt.spec.torch_name, [], kwargs).replace("(", "(params, ", 1)
    out: list = [
        "",
        "",
        "def build_optimizer(model: nn.Module) -> torch.optim.Optimizer:",
        '    """The optimizer over every trainable (not frozen) parameter."""',
        "    params = [p for p in model.parameters() if p.requires_grad]",
        (f"    return {opt_call.replace('(params, )', '(params)')}", opt.id),
    ]

    sched = plan.scheduler
    out += [
        "",
        "",
        "def build_scheduler(optimizer, steps_per_epoch: int, epochs: int):",
        '    """The learning-rate scheduler, or None."""',
    ]
    step = None
    if sched is None:
        out.append("    return None")
    else:
        step = sched.spec.extra["step"]
        _, kwargs = ctor_args(sched.spec, sched.params, sched.id, keywords=True)
        text = call(sched.spec.torch_name, [], kwargs).replace("(", "(optimizer, ", 1)
        text = text.replace("(optimizer, )", "(optimizer)")
        if sched.type_id == "sched.OneCycleLR":
            text = text[:-1] + ", epochs=epochs, steps_per_epoch=steps_per_epoch)"
        out += [(line, sched.id) for line in wrap("return ", text, "    ")]

    clip_lines = []
    for clip in plan.clips:
        _, kwargs = ctor_args(clip.spec, clip.params, clip.id, keywords=True)
        clip_lines.append(
            (
                "    "
                + call(clip.spec.torch_name, [], kwargs).replace("(", "(model.parameters(), ", 1),
                clip.id,
            )
        )
    out += [
        "",
        "",
        "def train_step(model, losses, optimizer, scheduler, scaler, batch, device):",
        '    """One optimisation step; returns (loss, prediction, target), detached."""',
    ]
    if opt.type_id == "optim.LBFGS":  # re-evaluates the loss: the step takes a closure
        # (no gradient scaler: configure() refuses fp16 with L-BFGS)
        out += [
            "    result = []",
            "",
            "    def closure():",
            "        optimizer.zero_grad(set_to_none=True)",
            "        with autocast(device):",
            "            loss, prediction, target = compute_loss(model, losses, batch, device)",
            "        loss.backward()",
            *[
                "    " + line if isinstance(line, str) else ("    " + line[0], line[1])
                for line in clip_lines
            ],
            "        if not result:  # report the loss before the step, as other optimizers",
            "            result.append((loss, prediction, target))",
            "        return loss",
            "",
            "    optimizer.step(closure)",
            "    loss, prediction, target = result[0]",
        ]
    else:
        out += [
            "    optimizer.zero_grad(set_to_none=True)",
            "    with autocast(device):",
            "        loss, prediction, target = compute_loss(model, losses, batch, device)",
            "    scaler.scale(loss).backward()",
            *(["    scaler.unscale_(optimizer)  # clip the true gradients"] if clip_lines else []),
            *clip_lines,
            "    scaler.step(optimizer)",
            "    scaler.update()",
        ]
    if step == "batch":
        out.append("    scheduler.step()")
    out.append("    return loss.detach(), prediction.detach(), target")
    out += [
        "",
        "",
        "def end_epoch(scheduler, val_loss: float) -> None:",
        '    """Scheduler work at the end of an epoch."""',
    ]
    if step == "epoch":
        out.append("    scheduler.step()")
    elif step == "plateau":
        out.append("    scheduler.step(val_loss)")
    else:
        out.append("    return None")
    if not evaluate:
        return out
    out += [
        "",
        "",
        "@torch.no_grad()",
        "def evaluate(model, losses, loader, device):",
        '    """Mean loss over ``loader``, with all predictions and targets."""',
        "    model.eval()",
        "    total, count, predictions, targets = torch.zeros((), device=device), 0, [], []",
        "    for batch in loader:",
        "        with autocast(device):",
        "            loss, prediction, target = compute_loss(model, losses, batch, device)",
        "        total += loss * len(target)  # float32, whatever the precision",
        "        count += len(target)",
        "        # a float32 copy: a compiled model may reuse its outputs' memory",
        "        predictions.append(prediction.to(torch.float32, copy=True))",
        "        targets.append(target)",
        "    model.train()",
        "    if not count:",
        '        return float("nan"), torch.empty(0), torch.empty(0)',
        "    return (total / count).item(), torch.cat(predictions), torch.cat(targets)",
    ]
    return out


def _metrics_section(plan: TrainPlan) -> str:
    task = plan.task
    head = [
        "",
        "",
        "def metrics(prediction: torch.Tensor, target: torch.Tensor) -> dict:",
        '    """Headline validation metrics."""',
        "    if not len(target):",
        "        return {}",
    ]
    if task == "classification":
        body = [
            "    predicted = prediction.argmax(1)",
            '    return {"accuracy": (predicted == target).float().mean().item()}',
        ]
    elif task == "binary":
        logits = plan.losses[0].node.type_id == "loss.BCEWithLogits"
        threshold = "0.0  # logits" if logits else "0.5  # probabilities"
        body = [
            f"    threshold = {threshold}",
            "    predicted = (prediction > threshold).to(target.dtype)",
            '    return {"accuracy": (predicted == target).float().mean().item()}',
        ]
    elif task == "regression":
        body = ['    return {"mae": (prediction - target).abs().mean().item()}']
    else:
        body = ["    return {}"]
    return "\n".join(head + body)
