"""Text: the corpus and labelled-text sources (vocabulary, windows, padding, errors), the
char_rnn / sentiment examples trained for a few steps, generation and prediction through the
generated functions, vocab.json in runs and exports, the exported code run alone, and the
``generate`` / ``predict`` commands.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from torchcanvas.graph import Graph, load, save
from torchcanvas.runtime.cli import main as cli_main
from torchcanvas.runtime.compile import compile_project
from torchcanvas.runtime.data import DataError, assets_dir, describe, make_datasets
from torchcanvas.runtime.export import export_code
from torchcanvas.runtime.shapes import infer_shapes
from torchcanvas.runtime.text import TextModelError, latest_run, load_trained
from torchcanvas.runtime.trainer import RunFinished, StepEvent, Trainer, TrainOptions

EXAMPLES = assets_dir() / "examples"
CORPUS = assets_dir() / "data" / "tiny_stories.txt"


@pytest.fixture(autouse=True)
def data_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHCANVAS_DATA_DIR", str(tmp_path / "cache"))


def node_of(type_id: str, params: dict | None = None, **settings):
    g = Graph(settings or None)
    return g.node(g.add_node(type_id, params or {}, label="texts")), g.settings


def example(name: str, **settings) -> Graph:
    graph = load(EXAMPLES / f"{name}.json")
    for key, value in {"device": "cpu", **settings}.items():
        graph.set_setting(key, value)
    return graph


def set_params(graph: Graph, label: str, **params) -> None:
    node = next(n for n in graph.nodes() if n.label == label)
    for key, value in params.items():
        graph.set_param(node.id, key, value)


# ------------------------------------------------------------------------- corpus
def test_corpus_windows_are_next_token_pairs_and_vocab_is_deterministic():
    node, settings = node_of("data.TextCorpus", {"seq_length": 20, "stride": 5})
    train, val, classes = make_datasets(node, settings)
    assert classes is None
    x, y = train.tensors
    assert x.shape[1:] == (20,) and y.shape == x.shape and x.dtype == torch.long
    assert torch.equal(x[:, 1:], y[:, :-1])  # y is x one token on
    assert torch.equal(x[1, :15], x[0, 5:])  # windows start every stride tokens
    vocab = train.vocab
    text = CORPUS.read_text(encoding="utf-8")
    cut = round(len(text) * 0.8)
    assert vocab.tokens[0] == "<unk>" and set(vocab.tokens[1:]) == set(text[:cut])
    assert vocab.decode(x[0].tolist()) == text[:20]
    assert len(val) == (len(text) - cut - 1) // 20
    again = make_datasets(node, settings)[0]
    assert again.vocab.tokens == vocab.tokens and torch.equal(again.tensors[0], x)
    info = describe(node, settings)
    assert info.vocab_size == len(vocab) and info.x_shape == (20,) and info.y_shape == (20,)


def test_word_corpus_from_a_file_with_a_vocabulary_limit(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("the cat sat . the dog sat . the cat ran !\n" * 20, encoding="utf-8")
    node, settings = node_of(
        "data.TextCorpus",
        {"path": str(path), "level": "word", "seq_length": 4, "stride": 4, "max_vocab": 4},
        val_split=0.0,
    )
    train, val, _ = make_datasets(node, settings)
    vocab = train.vocab
    assert vocab.tokens == ["<unk>", "the", ".", "cat"]  # the most frequent, ties by text
    assert vocab.encode("the cat ran") == [1, 3, 0]
    assert len(val) == 0 and len(train) == (len(vocab.encode(path.read_text())) - 5) // 4 + 1


def test_corpus_errors_name_the_node(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("tiny", encoding="utf-8")
    node, settings = node_of("data.TextCorpus", {"path": str(short)})
    with pytest.raises(DataError, match=r"texts: .*short.txt: the training text has 3 tokens"):
        make_datasets(node, settings)
    node, settings = node_of("data.TextCorpus", {"path": str(tmp_path / "nope.txt")})
    with pytest.raises(DataError, match=r"texts: .*nope.txt does not exist \(param 'path'\)"):
        make_datasets(node, settings)


# ------------------------------------------------------------------------- labelled text
def test_bundled_sentiment_set_is_balanced_padded_left():
    node, settings = node_of("data.TextClassification", {"max_length": 12})
    train, val, classes = make_datasets(node, settings)
    assert classes == ["negative", "positive"]
    assert len(train) + len(val) == 400 and len(val) == 80
    labels = torch.cat([train.tensors[1], val.tensors[1]])
    assert torch.bincount(labels).tolist() == [200, 200]
    x = train.tensors[0]
    assert x.shape[1:] == (12,) and x.dtype == torch.long
    vocab = train.vocab
    assert vocab.tokens[:2] == ["<pad>", "<unk>"] and vocab.classes == classes
    short = x[(x == 0).any(1)][0]  # a padded text: pads first, then the words
    first = int((short != 0).nonzero()[0])
    assert (short[:first] == 0).all() and (short[first:] != 0).all()


def test_labelled_table_tsv_folder_and_truncation(tmp_path):
    tsv = tmp_path / "reviews.tsv"
    tsv.write_text(
        "label\tbody\n"
        + "".join(f"{'good' if i % 2 else 'bad'}\tword{i} a b c d\n" for i in range(10)),
        encoding="utf-8",
    )
    node, settings = node_of(
        "data.TextClassification",
        {
            "path": str(tsv),
            "text_column": "body",
            "max_length": 3,
            "padding": "right",
            "lowercase": False,
        },
        val_split=0.0,
    )
    train, _, classes = make_datasets(node, settings)
    assert classes == ["bad", "good"]
    assert train.tensors[0].shape == (10, 3)
    assert train.vocab.decode(train.tensors[0][0].tolist()).split()[1:] == ["a", "b"]

    folder = tmp_path / "folder"
    for label in ("neg", "pos"):
        (folder / label).mkdir(parents=True)
        for i in range(3):
            (folder / label / f"{i}.txt").write_text(f"{label} text {i}", encoding="utf-8")
    node, settings = node_of(
        "data.TextClassification",
        {"path": str(folder), "max_length": 5, "padding": "right"},
        val_split=0.0,
    )
    train, _, classes = make_datasets(node, settings)
    assert classes == ["neg", "pos"] and len(train) == 6
    texts = {train.vocab.decode(row[:3].tolist()) for row in train.tensors[0]}
    assert texts == {f"{label} text {i}" for label in ("neg", "pos") for i in range(3)}
    assert (train.tensors[0][:, 3:] == 0).all()  # padded on the right


def test_labelled_text_errors_name_the_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("sentence,label\nhello,a\n", encoding="utf-8")
    node, settings = node_of("data.TextClassification", {"path": str(path)})
    with pytest.raises(
        DataError,
        match=r"texts: .*t.csv: no column 'text' \(columns: "
        r"sentence, label\)",
    ):
        make_datasets(node, settings)
    path.write_text("text,label\nhello,\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"t.csv, line 2: column 'label' is empty"):
        make_datasets(node, settings)


# ------------------------------------------------------------------------- shapes
def test_embedding_size_comes_from_the_vocabulary_and_scores_are_checked():
    graph = example("char_rnn")
    result = infer_shapes(graph)
    assert result.ok, result.problems
    emb = next(n for n in graph.nodes() if n.label == "embedding")
    vocab_size = result.data_info.vocab_size
    assert result.resolved[emb.id]["num_embeddings"] == vocab_size == 59
    set_params(graph, "next_char", out_features=50)
    problem = infer_shapes(graph).first_error()
    assert problem.message == (
        "loss1: the data has 59 tokens in the vocabulary but the model "
        "gives 50 scores (dim 1 of its input from logits); make the "
        "last layer's output size 59"
    )
    graph = example("sentiment_lstm")
    set_params(graph, "classifier", out_features=3)
    assert (
        "the data has 2 classes but the model gives 3 scores"
        in infer_shapes(graph).first_error().message
    )


def test_char_rnn_output_size_follows_the_vocabulary_of_the_users_text(tmp_path):
    """The example's last Linear is auto: another text file needs no edit to out_features."""
    graph = example("char_rnn")
    head = next(n for n in graph.nodes() if n.label == "next_char")
    assert head.params["out_features"] == "auto"
    (tmp_path / "mine.txt").write_text("abcab cab bca\n" * 40, encoding="utf-8")
    set_params(graph, "stories", path="mine.txt")
    result = infer_shapes(graph, tmp_path)
    assert result.ok, result.problems
    vocab_size = result.data_info.vocab_size
    assert vocab_size < 59
    assert result.resolved[head.id]["out_features"] == vocab_size
    project = compile_project(graph, tmp_path)
    assert f"nn.Linear(192, {vocab_size})" in project.model.source.source
    # a classifier's auto output size is its number of classes
    graph = example("sentiment_lstm")
    set_params(graph, "classifier", out_features="auto")
    result = infer_shapes(graph)
    classifier = next(n for n in graph.nodes() if n.label == "classifier")
    assert result.ok and result.resolved[classifier.id]["out_features"] == 2


# ------------------------------------------------------------------------- training
def train_steps(graph: Graph, out: Path, steps: int) -> tuple[list[float], Trainer]:
    trainer = Trainer(
        compile_project(graph), TrainOptions(out_dir=out, max_steps=steps, log_every=1)
    )
    events = trainer.run()
    assert isinstance(events[-1], RunFinished), events[-1]
    return [e.loss for e in events if isinstance(e, StepEvent)], trainer


def falls(losses: list[float]) -> bool:
    k = max(len(losses) // 4, 1)
    return sum(losses[-k:]) / k < 0.8 * sum(losses[:k]) / k


@pytest.mark.slow
def test_char_rnn_learns_and_generates(tmp_path):
    out = tmp_path / "run"
    trainer = Trainer(
        compile_project(example("char_rnn", batch_size=32)),
        TrainOptions(out_dir=out, max_steps=40, log_every=1),
    )
    events = trainer.run()
    assert isinstance(events[-1], RunFinished), events[-1]
    losses = [e.loss for e in events if isinstance(e, StepEvent)]
    assert falls(losses), losses
    # the classes the results show are the vocabulary's characters, blanks made visible
    names = events[0].classes
    tokens = json.loads((out / "vocab.json").read_text())["tokens"]
    assert len(names) == len(tokens) == 59
    assert "␣" in names and "↵" in names and "e" in names and " " not in names
    assert {"vocab.json", "checkpoint.pt", "weights.pt"} <= {p.name for p in out.iterdir()}
    (out / "project.json").write_text((EXAMPLES / "char_rnn.json").read_text())
    trained = load_trained(out)
    symbols = set(trained.vocab.tokens) - {"<unk>"}
    text = trained.generate("The river", length=50, temperature=0.8, top_k=10, seed=1)
    assert len(text) == 50 and set(text) <= symbols
    assert trained.generate("The river", 50, 0.8, 10, seed=1) == text  # seeded: repeatable
    assert len(trained.generate("Zz", 5, temperature=1.5)) == 5
    with pytest.raises(TextModelError, match="prompt is empty"):
        trained.generate("", 5)
    with pytest.raises(TextModelError, match="temperature must be above 0"):
        trained.generate("a", 5, temperature=0)
    with pytest.raises(TextModelError, match="generates text; it does not classify"):
        trained.predict("a")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sentiment_lstm", "sentiment_cnn"])
def test_sentiment_learns_and_predicts(name, tmp_path):
    out = tmp_path / "run"
    losses, trainer = train_steps(example(name), out, 60)
    assert falls(losses), losses
    (out / "project.json").write_text((EXAMPLES / f"{name}.json").read_text())
    trained = load_trained(out)
    label, probability = trained.predict("What a wonderful film, I loved it!")
    assert label in ("negative", "positive") and 0.5 <= probability <= 1.0
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert {"accuracy", "precision", "recall"} <= set(history[-1])
    with pytest.raises(TextModelError, match="type a text"):
        trained.predict("  ")


@pytest.mark.slow
def test_sentiment_reaches_good_accuracy_in_its_default_epochs(tmp_path):
    graph = example("sentiment_cnn")
    events = Trainer(compile_project(graph), TrainOptions(out_dir=tmp_path / "r")).run()
    final = events[-1].history[-1]
    assert final["accuracy"] >= 0.9 and final["precision"] >= 0.9 and final["recall"] >= 0.9


def test_load_trained_explains_what_is_missing(tmp_path):
    with pytest.raises(TextModelError, match="no such run folder"):
        load_trained(tmp_path / "none")
    run = tmp_path / "run"
    run.mkdir()
    (run / "project.json").write_text((EXAMPLES / "char_rnn.json").read_text())
    with pytest.raises(TextModelError, match="no trained weights yet"):
        load_trained(run)
    (run / "project.json").write_text((EXAMPLES / "iris_mlp.json").read_text())
    with pytest.raises(TextModelError, match="not a text task"):
        load_trained(run)
    assert latest_run(tmp_path) is None


# ------------------------------------------------------------------------- export
BLOCK_PACKAGE = (
    "import runpy, sys\n"
    "sys.modules['torchcanvas'] = None  # the package must not be needed\n"
    "sys.argv = ['train.py', *sys.argv[1:]]\n"
    "runpy.run_path('train.py', run_name='__main__')\n"
)


def standalone(folder: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_PACKAGE, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.slow
def test_exported_char_rnn_trains_and_generates_alone(tmp_path):
    graph = example("char_rnn", epochs=1, batch_size=32)
    set_params(graph, "stories", stride=64)
    set_params(graph, "lstm", hidden_size=64)
    project = compile_project(graph)
    export_code(project, tmp_path)
    vocab = json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))
    assert (tmp_path / "data" / "tiny_stories.txt").is_file()
    assert "def generate(" in (tmp_path / "train.py").read_text()
    done = standalone(tmp_path, "--out", "ck")
    record = json.loads(done.stdout.splitlines()[-1])
    events = Trainer(project, TrainOptions(out_dir=tmp_path / "app")).run()
    assert record["train_loss"] == events[-1].history[-1]["train_loss"]  # the same run
    assert json.loads((tmp_path / "ck" / "vocab.json").read_text()) == vocab
    assert json.loads((tmp_path / "app" / "vocab.json").read_text()) == vocab
    done = standalone(tmp_path, "--out", "ck", "--generate", "The fox", "--length", "40")
    text = done.stdout.rstrip("\n")
    assert text.startswith("The fox") and len(text) == len("The fox") + 40
    assert set(text) <= set(vocab["tokens"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sentiment_lstm", "sentiment_cnn"])
def test_exported_sentiment_trains_and_predicts_alone(name, tmp_path):
    export_code(compile_project(example(name, epochs=2)), tmp_path)
    standalone(tmp_path, "--out", "ck")
    done = standalone(tmp_path, "--out", "ck", "--predict", "The staff was lovely")
    label, _, rest = done.stdout.strip().partition(" (")
    assert label in ("negative", "positive") and rest.endswith("%)")


# ------------------------------------------------------------------------- commands
@pytest.mark.slow
def test_generate_and_predict_commands(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCHCANVAS_RUNS_DIR", str(tmp_path / "runs"))
    project_file = tmp_path / "chars.json"
    graph = example("char_rnn", batch_size=32)
    save(graph, project_file)
    assert cli_main(["generate", str(project_file), "--prompt", "The"]) == 1
    assert "no trained run" in capsys.readouterr().err
    run = tmp_path / "runs" / "first"
    train_steps(graph, run, 3)
    (run / "project.json").write_text(project_file.read_text())
    assert (
        cli_main(
            [
                "generate",
                str(project_file),
                "--prompt",
                "The",
                "--length",
                "30",
                "--top-k",
                "5",
                "--seed",
                "2",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out.rstrip("\n")
    assert out.startswith("The") and len(out) == 33
    assert (
        cli_main(
            [
                "generate",
                str(project_file),
                "--run",
                "first",
                "--prompt",
                "The",
                "--temperature",
                "0",
            ]
        )
        == 1
    )
    assert "temperature must be above 0" in capsys.readouterr().err
    assert cli_main(["predict", str(project_file), "--run", str(run), "--text", "hi"]) == 1
    assert "does not classify" in capsys.readouterr().err

    out_dir = tmp_path / "trained"  # a `train --out` folder: no project.json, use the file
    sentiment = EXAMPLES / "sentiment_cnn.json"
    assert cli_main(["train", str(sentiment), "--epochs", "1", "--out", str(out_dir)]) == 0
    capsys.readouterr()
    assert (
        cli_main(
            ["predict", str(sentiment), "--run", str(out_dir), "--text", "An awful, boring show"]
        )
        == 0
    )
    label, probability = capsys.readouterr().out.split("\t")
    assert label in ("negative", "positive") and 0.5 <= float(probability) <= 1
