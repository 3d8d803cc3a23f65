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
    SAVE_CHECKPOINT,
    GeneratedTrain,
    ScriptLines,
    _imports,
    _losses_section,
    _optim_section,
    speed_section,
)
from torchcanvas.graph.document import Graph
from torchcanvas.graph.settings import SPEED_SETTINGS

_IMPORTS = """
import argparse
import json
import os
from pathlib import Path

import torch
from torch import nn
"""

HELPERS = (
    '''

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


'''
    + SAVE_CHECKPOINT
    + """

def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"])
    parser.add_argument("--device", default=SETTINGS["device"])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--out", type=Path, default=Path("output"))
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

    device = pick_device(args.device)
    try:
        notices = configure(device)
    except ValueError as exc:
        parser.error(str(exc))
    torch.manual_seed(SETTINGS["seed"])
    model = prepare_model(MODEL_CLASS().to(device))
    for notice in dict.fromkeys(notices + [getattr(m, "notice", None) for m in model.modules()]):
        if notice:  # e.g. no pretrained weights found: said once
            print(notice)
    images = make_images(args.data_dir)
    losses = build_losses().to(device)
    optimizer = build_optimizer(model)
    scheduler = build_scheduler(optimizer, STEPS_PER_EPOCH, args.epochs)
    scaler = make_scaler(device)

    start_epoch, history = 0, []
    if args.resume:
        state = torch.load(args.resume, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start_epoch, history = state["epoch"], state["history"]
        torch.set_rng_state(state["rng"])
    args.out.mkdir(parents=True, exist_ok=True)
    writer, step = None, start_epoch * STEPS_PER_EPOCH
    if args.tensorboard:  # imported here: only --tensorboard needs the tensorboard package
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(args.out / "tensorboard")

    for epoch in range(start_epoch, args.epochs):
        total = torch.zeros((), device=device)
        for _ in range(STEPS_PER_EPOCH):
            loss, _, _ = train_step(model, losses, optimizer, scheduler, scaler, images, device)
            total += loss
            step += 1
            if writer is not None:
                writer.add_scalar("step/train_loss", loss.item(), step)
                writer.add_scalar("step/lr", optimizer.param_groups[0]["lr"], step)
        train_loss = (total / STEPS_PER_EPOCH).item()
        end_epoch(scheduler, train_loss)
        record = {"epoch": epoch + 1, "train_loss": train_loss}
        history.append(record)
        print(json.dumps(record))
        if writer is not None:
            writer.add_scalar("epoch/train_loss", train_loss, epoch + 1)
        save_checkpoint(
            args.out / "checkpoint.pt", model, optimizer, scheduler, scaler, epoch + 1, 0, history
        )
        save_image(current_image(model), args.out / "result.png")
    torch.save(model.state_dict(), args.out / "weights.pt")
    if writer is not None:  # the HParams tab: what was optimised, with the final loss
        hparams = {"optimizer": type(optimizer).__name__, "lr": optimizer.defaults["lr"]}
        final = {"hparam/train_loss": history[-1]["train_loss"]} if history else {}
        writer.add_hparams(hparams | {"epochs": args.epochs}, final, run_name=".")
        writer.close()


if __name__ == "__main__":
    main()
"""
)


def generate_style_train(
    graph: Graph, plan: TrainPlan, ir: ModelIR, project_dir: Path | None = None, title: str = ""
) -> GeneratedTrain:
    """The train.py source of a style-transfer project."""
    data_imports, data_body = style_data_code(
        plan.data, resolve_image_paths(plan.data, project_dir)
    )
    script = ScriptLines()
    add = script.add

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
    for k in ("epochs", "seed", "device", *SPEED_SETTINGS, "tensorboard"):
        add(f'    "{k}": {literal(graph.settings[k])},')
    add("}")
    add('DATA_DIR = Path(__file__).resolve().parent / "data"')
    add(data_body.rstrip("\n"), plan.data.id)
    add(speed_section(plan))
    add(_losses_section(plan, ir))
    add(_optim_section(plan, evaluate=False))
    add(HELPERS)
    return script.finish()
