"""A finished run's results, computed again from its files: the run's model (its project.json)
with its final weights on the run's validation split gives the predictions, the metrics and a
few image samples that the trainer sends after an epoch, for the Results tab to show a run it
did not watch (an earlier run, a sweep's trial). No Qt; torch loads when it is called."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchcanvas.runtime.explain import ExplainError, load_run

SAMPLES = 16  # validation images shown with what the model predicts, as after an epoch


class ResultsError(ExplainError):
    """The run's results cannot be computed; says why (with the node, when one)."""


@dataclass(frozen=True)
class RunResults:
    task: str
    classes: list[str] | None
    metrics: dict[str, Any]  # val_loss and the task's metrics
    predictions: tuple[Any, Any]  # (prediction, target) for the whole validation split
    samples: tuple[Any, Any, Any] | None  # (inputs, predicted, targets) of a few images
    weights: Path  # the file the weights came from


def run_results(run_dir: Path, device: str = "cpu") -> RunResults:
    """Evaluate the run in ``run_dir`` on its validation split (the same split and loader as
    training). ResultsError when it cannot (no weights yet, no validation split…)."""
    import torch

    from torchcanvas.runtime import metrics as metric_fns
    from torchcanvas.runtime.data import DataError, materialize

    try:
        run = load_run(Path(run_dir), device)
    except ExplainError as exc:
        raise ResultsError(str(exc), exc.node_id) from None
    project, model = run.project, run.model
    fn = project.fn
    data = project.plan.data
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        _train, val_set, classes = fn("make_datasets")(materialize(data, None))
    except (OSError, ValueError, RuntimeError, IndexError, KeyError) as exc:
        raise DataError(f"{data.label}: {exc}", data.id) from exc
    if len(val_set) == 0:
        raise ResultsError("this run has no validation split (val_split is 0)")
    losses = fn("build_losses")().to(dev)
    loader = fn("make_loader")(val_set, train=False)
    val_loss, prediction, target = fn("evaluate")(model, losses, loader, dev)
    task = project.plan.task
    logits = project.plan.losses[0].node.type_id != "loss.BCE"
    values = metric_fns.compute(task, prediction, target, len(classes) if classes else None, logits)
    return RunResults(
        task,
        list(classes) if classes else None,
        {"val_loss": float(val_loss), **values},
        (prediction.detach().cpu(), target.detach().cpu()),
        _image_samples(model, val_set, task, logits, dev, project),
        run.weights,
    )


def _image_samples(model, val_set, task: str, logits: bool, device, project):
    """Up to SAMPLES validation images with what the model predicts (as the trainer's)."""
    import torch

    if len(project.model.source.ir.inputs) != 1:
        return None
    items = [val_set[i] for i in range(min(SAMPLES, len(val_set)))]
    x = torch.stack([torch.as_tensor(item[0]) for item in items])
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        return None
    y = torch.stack([torch.as_tensor(item[1]) for item in items])
    with torch.no_grad():
        out = model(x.to(device))
    if not isinstance(out, torch.Tensor):
        return None
    if task == "classification" and out.dim() == 2:
        predicted = out.argmax(1)
    elif task == "binary":
        predicted = (out > (0.0 if logits else 0.5)).long().reshape(len(items), -1)[:, 0]
    else:
        predicted = out
    return x.cpu(), predicted.detach().cpu(), y
