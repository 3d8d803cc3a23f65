"""Validation metrics, computed on the device and read back once."""

from __future__ import annotations

from typing import Any

import torch


def classification_metrics(
    logits: torch.Tensor, target: torch.Tensor, num_classes: int | None
) -> dict[str, Any]:
    """Accuracy, macro precision/recall/F1, per-class precision/recall and the confusion matrix
    (rows: true class, columns: predicted class)."""
    if logits.dim() > 2:  # [B, C, T...] → [B*T..., C]
        logits = logits.movedim(1, -1).reshape(-1, logits.shape[1])
        target = target.reshape(-1)
    predicted = logits.argmax(1)
    target = target.long()
    k = num_classes or int(max(logits.shape[1], int(target.max().item()) + 1 if len(target) else 0))
    return _from_predictions(predicted, target, k)


def binary_metrics(output: torch.Tensor, target: torch.Tensor, logits: bool) -> dict[str, Any]:
    predicted = (output > (0.0 if logits else 0.5)).long().reshape(-1)
    return _from_predictions(predicted, target.long().reshape(-1), 2)


def _from_predictions(predicted: torch.Tensor, target: torch.Tensor, k: int) -> dict[str, Any]:
    valid = (target >= 0) & (target < k)  # e.g. ignore_index
    predicted, target = predicted[valid], target[valid]
    cm = torch.bincount(target * k + predicted.clamp(0, k - 1), minlength=k * k).reshape(k, k)
    cm = cm.cpu()
    tp = cm.diag().double()
    predicted_count = cm.sum(0).double()
    true_count = cm.sum(1).double()
    precision = torch.where(
        predicted_count > 0, tp / predicted_count.clamp_min(1), torch.zeros_like(tp)
    )
    recall = torch.where(true_count > 0, tp / true_count.clamp_min(1), torch.zeros_like(tp))
    f1 = torch.where(
        precision + recall > 0,
        2 * precision * recall / (precision + recall).clamp_min(1e-12),
        torch.zeros_like(tp),
    )
    present = true_count > 0  # macro averages over classes that occur
    n = int(cm.sum())
    return {
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "precision": float(precision[present].mean()) if present.any() else 0.0,
        "recall": float(recall[present].mean()) if present.any() else 0.0,
        "f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class_precision": precision.tolist(),
        "per_class_recall": recall.tolist(),
        "confusion_matrix": cm.tolist(),
    }


def regression_metrics(prediction: torch.Tensor, target: torch.Tensor) -> dict[str, Any]:
    prediction = (
        prediction.reshape(target.shape) if prediction.numel() == target.numel() else prediction
    )
    err = (prediction - target).double()
    mae = err.abs().mean()
    mse = (err**2).mean()
    var = ((target.double() - target.double().mean()) ** 2).mean()
    r2 = 1 - mse / var if var > 0 else torch.tensor(0.0)
    values = torch.stack([mae, mse, r2]).tolist()
    return {"mae": values[0], "mse": values[1], "r2": values[2]}


def compute(
    task: str,
    prediction: torch.Tensor,
    target: torch.Tensor,
    num_classes: int | None = None,
    logits: bool = True,
) -> dict[str, Any]:
    if len(target) == 0:
        return {}
    if task == "classification":
        return classification_metrics(prediction, target, num_classes)
    if task == "binary":
        return binary_metrics(prediction, target, logits)
    if task == "regression":
        return regression_metrics(prediction, target)
    return {}


HEADLINE = {
    "classification": ("accuracy", "precision", "recall", "f1"),
    "binary": ("accuracy", "precision", "recall", "f1"),
    "regression": ("mae", "r2"),
}
