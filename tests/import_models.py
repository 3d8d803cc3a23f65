"""User-written models the import tests (and bench/export_roundtrip.py) import by file path:
``tests/import_models.py:Seq2SeqTransformer``."""

from __future__ import annotations

import torch
from torch import nn


class Seq2SeqTransformer(nn.Module):
    """An encoder-decoder transformer over sequences of feature vectors: a linear embedding
    with learned positions for the source, learned queries as the decoder's target sequence,
    ``nn.Transformer`` between them, and a classification head over the decoded positions.

    Input ``[B, length, features]``; output ``[B, classes]``.
    """

    def __init__(
        self,
        features: int = 8,
        length: int = 12,
        d_model: int = 32,
        nhead: int = 4,
        layers: int = 2,
        queries: int = 4,
        classes: int = 5,
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(features, d_model)
        self.positions = nn.Parameter(torch.randn(1, length, d_model) * 0.02)
        self.queries = nn.Parameter(torch.randn(1, queries, d_model) * 0.02)
        self.transformer = nn.Transformer(
            d_model,
            nhead,
            num_encoder_layers=layers,
            num_decoder_layers=layers,
            dim_feedforward=2 * d_model,
            batch_first=True,
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, classes)

    def forward(self, src: torch.Tensor) -> torch.Tensor:
        x = self.embed(src) + self.positions
        tgt = self.queries.expand(src.shape[0], -1, -1)
        y = self.transformer(x, tgt)
        return self.head(self.norm(y).mean(dim=1))


class RecurrentAttention(nn.Module):
    """An LSTM whose final states and an attention layer's weights are used beside its
    outputs: the tuple results unpack as ``out, (h, c)`` and ``out, weights``."""

    def __init__(self, features: int = 6, hidden: int = 16, classes: int = 3) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, num_layers=2, batch_first=True)
        self.attn = nn.MultiheadAttention(hidden, 2, batch_first=True)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)
        self.gate = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq, (h, c) = self.lstm(x)
        attended, weights = self.attn(seq, seq, seq)
        out, last = self.gru(attended)
        mixed = torch.bmm(weights, out).mean(dim=1)
        return self.head(mixed + last[-1]) + self.gate(c[-1])


class Split(nn.Module):
    """No weights; called with a tensor and a constant."""

    def forward(self, x: torch.Tensor, parts: int) -> torch.Tensor:
        return x.flatten(1).reshape(x.shape[0], parts, -1)


class Helpers(nn.Module):
    """A weights-free module called with a constant (``self.split(y, 3)``), a buffer read
    through a view, and a value made from weights alone whose first size is the batch size
    the import traces with (2)."""

    def __init__(self) -> None:
        super().__init__()
        self.split = Split()
        self.register_buffer("order", torch.arange(6).flip(0))
        self.table = nn.Parameter(torch.randn(3, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x[:, self.order.view(2, 3)]  # [B, 2, 3]
        bias = self.table.t().contiguous()  # [2, 3]
        return self.split(y + bias, 3)
