"""Writes sentiment.csv: short product and film reviews labelled positive or negative.

The sentences come from templates and word lists below (made for torchcanvas), drawn with a
fixed seed, so running this script again gives the same file. Run: python make_sentiment.py
"""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path

SUBJECTS = [
    "the film",
    "this movie",
    "the book",
    "the hotel",
    "the food",
    "the service",
    "this phone",
    "the concert",
    "the game",
    "the coffee",
    "the staff",
    "the show",
    "the room",
    "this album",
    "the camera",
    "the meal",
    "the story",
    "the app",
]
POSITIVE = [
    "great",
    "wonderful",
    "excellent",
    "lovely",
    "delightful",
    "brilliant",
    "fantastic",
    "superb",
    "charming",
    "enjoyable",
    "pleasant",
    "amazing",
]
NEGATIVE = [
    "terrible",
    "awful",
    "boring",
    "dreadful",
    "disappointing",
    "poor",
    "dull",
    "horrible",
    "annoying",
    "useless",
    "bland",
    "mediocre",
]
ADVERBS = ["really", "truly", "very", "quite", "simply", "absolutely", "rather"]
POS_VERBS = ["loved", "enjoyed", "liked", "adored", "recommend"]
NEG_VERBS = ["hated", "disliked", "regret buying", "could not stand", "would avoid"]
POS_TAILS = [
    "and I would go again",
    "and worth every penny",
    "and I smiled all evening",
    "and everyone was happy",
    "I will tell my friends",
    "a real pleasure",
]
NEG_TAILS = [
    "and a waste of money",
    "and I left early",
    "and I want a refund",
    "and nobody was happy",
    "I will not come back",
    "a real letdown",
]

TEMPLATES = [
    ("{subject} was {adverb} {adj}", None),
    ("{subject} is {adj}", None),
    ("I {verb} {subject}", "verb"),
    ("{subject} was {adj} {tail}", "tail"),
    ("what a {adj} experience", None),
    ("{subject} was not {opposite} at all", "negated"),
    ("honestly {subject} felt {adverb} {adj}", None),
    ("I {verb} {subject}, it was {adj}", "verb"),
]


def sentence(rng: random.Random, positive: bool) -> str:
    template, _ = rng.choice(TEMPLATES)
    adjectives, opposites = (POSITIVE, NEGATIVE) if positive else (NEGATIVE, POSITIVE)
    text = template.format(
        subject=rng.choice(SUBJECTS),
        adverb=rng.choice(ADVERBS),
        adj=rng.choice(adjectives),
        opposite=rng.choice(opposites),
        verb=rng.choice(POS_VERBS if positive else NEG_VERBS),
        tail=rng.choice(POS_TAILS if positive else NEG_TAILS),
    )
    text = re.sub(r"\ba ([aeiou])", r"an \1", text)  # an amazing, an awful
    return text[0].upper() + text[1:] + rng.choice([".", ".", "!"])


def main(n_per_label: int = 200) -> None:
    rng = random.Random(2024)
    rows, seen = [], set()
    for label in ("positive", "negative"):
        count = 0
        while count < n_per_label:
            text = sentence(rng, label == "positive")
            if text not in seen:
                seen.add(text)
                rows.append((text, label))
                count += 1
    rng.shuffle(rows)
    path = Path(__file__).with_name("sentiment.csv")
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(rows)


if __name__ == "__main__":
    main()
