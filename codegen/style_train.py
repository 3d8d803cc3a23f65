"""train.py for a project that optimises an image (``TrainPlan.optimises_image``).

The functions the app's trainer calls are the usual ones (``build_losses``, ``compute_loss``,
``build_optimizer``, ``build_scheduler``, ``train_step``, ``end_epoch``, ``save_checkpoint``)
plus ``make_images``, ``current_image`` and ``to_pixels``/``save_image``; the loop runs
``epochs`` × ``STEPS_PER_EPOCH`` steps on the one pair of pictures and writes result.png.
"""

from __future__ import annotations

from pathlib import Path

from torchcanvas.codegen.emit import doc_text, literal
from torchcanvas.codegen.model import ModelIR
from torchcanvas.codegen.plan import TrainPlan
from torchcanvas.codegen.style import resolve_image_paths, style_data_code
from torchcanvas.codegen.train import (
    MODEL_IMPORT,
    GeneratedTrain,
    _imports,
    _losses_section,
    _optim_section,
)
from torchcanvas.graph.document import Graph

_IMPORTS = """
import argparse
import json
import os
from pathlib import Path

import torch
from torch import nn
"""

HELPERS = '''

def current_image(model: nn.Module) -> torch.Tensor:
    """The picture being optimised: the model's (first) trainable parameter."""
    return next(p for p in model.parameters() if p.requires_grad).detach()


def pick_device(setting: str) -> torch.device:
    """auto: CUDA when present, then Apple MPS, else the CPU."""
    if setting == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(setting)


def save_checkpoint(path, model, optimizer, scheduler, epoch, batch, history) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"])
    parser.add_argument("--device", default=SETTINGS["device"])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--out", type=Path, default=Path("output"))
    parser.add_argument("--resume", type=Path, help="continue from a checkpoint.pt")
    args = parser.parse_args(argv)

    device = pick_device(args.device)
    torch.manual_seed(SETTINGS["seed"])
    model = MODEL_CLASS().to(device)
    for notice in dict.fromkeys(getattr(m, "notice", None) for m in model.modules()):
        if notice:  # e.g. no pretrained weights found: said once
            print(notice)
    images = make_images(args.data_dir)
    losses = build_losses().to(device)
    optimizer = build_optimizer(model)
    scheduler = build_scheduler(optimizer, STEPS_PER_EPOCH, args.epochs)

    start_epoch, history = 0, []
    if args.resume:
        state = torch.load(args.resume, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        start_epoch, history = state["epoch"], state["history"]
        torch.set_rng_state(state["rng"])
    args.out.mkdir(parents=True, exist_ok=True)

    for epoch in range(start_epoch, args.epochs):
        total = torch.zeros((), device=device)
        for _ in range(STEPS_PER_EPOCH):
            loss, _, _ = train_step(model, losses, optimizer, scheduler, images, device)
            total += loss
        train_loss = (total / STEPS_PER_EPOCH).item()
        end_epoch(scheduler, train_loss)
        record = {"epoch": epoch + 1, "train_loss": train_loss}
        history.append(record)
        print(json.dumps(record))
        save_checkpoint(
            args.out / "checkpoint.pt", model, optimizer, scheduler, epoch + 1, 0, history
        )
        save_image(current_image(model), args.out / "result.png")
    torch.save(model.state_dict(), args.out / "weights.pt")


if __name__ == "__main__":
    main()
'''


def generate_style_train(
    graph: Graph, plan: TrainPlan, ir: ModelIR, project_dir: Path | None = None, title: str = ""
) -> GeneratedTrain:
    """The train.py source of a style-transfer project."""
    data_imports, data_body = style_data_code(
        plan.data, resolve_image_paths(plan.data, project_dir)
    )
    lines: list[tuple[str, str | None]] = []

    def add(block: str | list, node_id: str | None = None) -> None:
        items = block.split("\n") if isinstance(block, str) else block
        for item in items:
            lines.append(item if isinstance(item, tuple) else (item, node_id))

    name = ir.class_name
    doc = title or f"Optimise the image of {name}"
    add(
        f'"""{doc_text(doc)}: image optimisation script generated by torchcanvas.\n\n'
        "Run it with `python train.py`; the picture is saved as result.png in --out (output/)\n"
        "after every epoch of STEPS_PER_EPOCH steps.\n"
        '"""\n'
    )
    add(_imports(_IMPORTS, data_imports))
    add(MODEL_IMPORT.format(name=name))
    add(f"MODEL_CLASS = {name}")
    add("SETTINGS = {")
    for k in ("epochs", "seed", "device"):
        add(f'    "{k}": {literal(graph.settings[k])},')
    add("}")
    add('DATA_DIR = Path(__file__).resolve().parent / "data"')
    add(data_body.rstrip("\n"), plan.data.id)
    add(_losses_section(plan, ir))
    add(_optim_section(plan, evaluate=False))
    add(HELPERS)
    kept: list[tuple[str, str | None]] = []
    for text, nid in lines:
        if not text.strip() and len(kept) >= 2 and not kept[-1][0] and not kept[-2][0]:
            continue
        kept.append((text.rstrip(), nid))
    while kept and not kept[-1][0]:
        kept.pop()
    line_map = {i: nid for i, (_, nid) in enumerate(kept, start=1) if nid}
    return GeneratedTrain("\n".join(text for text, _ in kept) + "\n", line_map)
