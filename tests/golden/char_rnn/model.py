"""CharRNN: the model of the torchcanvas project char_rnn.

3 layers: Embedding, LSTM, Linear.
"""

from torch import nn


class CharRNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(59, 32)
        self.lstm = nn.LSTM(32, 192, batch_first=True)
        self.next_char = nn.Linear(192, 59)

    def forward(self, x):
        x = self.embedding(x)
        x = self.lstm(x)[0]
        x = self.next_char(x)
        x = x.permute(0, 2, 1)
        return x
