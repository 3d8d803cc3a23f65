"""SentimentCNN: the model of the torchcanvas project sentiment_cnn.

5 layers: Embedding, Conv1d, ReLU, Dropout, Linear.
"""

from torch import nn


class SentimentCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(109, 32, padding_idx=0)
        self.conv = nn.Conv1d(32, 64, 3, padding=1)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(p=0.2)
        self.classifier = nn.Linear(64, 2)

    def forward(self, x):
        x = self.embedding(x)
        x = x.transpose(1, 2)
        x = self.conv(x)
        x = self.relu(x)
        x = x.amax(2)
        x = self.dropout(x)
        x = self.classifier(x)
        return x
