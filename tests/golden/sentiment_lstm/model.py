"""SentimentLSTM: the model of the torchcanvas project sentiment_lstm.

4 layers: Embedding, LSTM, Dropout, Linear.
"""

from torch import nn


class SentimentLSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(109, 32, padding_idx=0)
        self.lstm = nn.LSTM(32, 64, batch_first=True)
        self.dropout = nn.Dropout(p=0.2)
        self.classifier = nn.Linear(64, 2)

    def forward(self, x):
        x = self.embedding(x)
        x = self.lstm(x)[1][0][-1]
        x = self.dropout(x)
        x = self.classifier(x)
        return x
