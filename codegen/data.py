"""Data set-up code for train.py: one ``make_datasets(data_dir)`` per data source.

The same text runs in the app (the runtime executes it) and in the exported train.py, so the
data a model trains on in the app is exactly the data of the exported script.
``make_datasets`` returns ``(train_set, val_set, classes)``; ``classes`` is a list of class names
for classification and ``None`` for regression.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torchcanvas.codegen.emit import CodegenError, doc_text, literal, quote
from torchcanvas.graph.document import Node

# Helpers every train.py carries; kept short and plain.
COMMON = '''
def split_indices(n: int, val_split: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random split of range(n) into training and validation indices."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = round(n * val_split)
    if val_split > 0 and n > 1:
        n_val = min(max(n_val, 1), n - 1)
    return order[n_val:], order[:n_val]


def standardize(x: torch.Tensor, train_idx: torch.Tensor) -> torch.Tensor:
    """Scale each feature with the mean and std of the training rows."""
    mean = x[train_idx].mean(0)
    std = x[train_idx].std(0).clamp_min(1e-8)
    return (x - mean) / std
'''

IMAGE_HELPERS = '''
def image_transforms(mean, std, train: bool) -> transforms.Compose:
    steps = [transforms.ToImage(), transforms.ToDtype(torch.float32, scale=True)]
    if train:
        steps += AUGMENT
    if mean is not None:
        steps.append(transforms.Normalize(mean, std))
    return transforms.Compose(steps)


def channel_stats(dataset, limit: int = 2000) -> tuple[list[float], list[float]]:
    """Per-channel mean and std over (up to ``limit``) training images."""
    n = min(len(dataset), limit)
    images = torch.stack([dataset[i][0] for i in range(n)])
    return images.mean((0, 2, 3)).tolist(), images.std((0, 2, 3)).clamp_min(1e-8).tolist()
'''


def _augment(params: dict[str, Any]) -> str:
    steps = []
    if params.get("random_crop_padding", 0):
        pad = literal(params["random_crop_padding"])
        steps.append(f"transforms.RandomCrop(SIZE, padding={pad})")
    if params.get("horizontal_flip", False):
        steps.append("transforms.RandomHorizontalFlip()")
    if params.get("rotation_degrees", 0.0):
        steps.append(f"transforms.RandomRotation({literal(params['rotation_degrees'])})")
    if not steps:
        return "AUGMENT = []  # training-time augmentation (none chosen)"
    body = "".join(f"    {s},\n" for s in steps)
    return f"AUGMENT = [  # training-time augmentation\n{body}]"


def resolve_path(node: Node, project_dir: Path | None) -> str | None:
    """The node's path param, made absolute against the project's folder."""
    value = node.params.get("path")
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute() and project_dir is not None:
        path = Path(project_dir) / path
    return str(path)


def data_file_name(node: Node) -> str | None:
    """The file a bundled source reads from ``data_dir`` (written by the runtime or export)."""
    spec = node.spec
    assert spec is not None
    source = spec.extra["source"]
    if source == "sklearn":
        return spec.extra["loader"].removeprefix("load_") + ".pt"
    if source == "bundled_csv":
        return spec.extra["file"]
    if source == "bundled_imagefolder":
        return spec.extra["folder"]  # a folder of class folders
    if source in ("text_corpus", "text_labels") and not node.params.get("path"):
        return spec.extra["file"]  # the bundled text
    return None


def data_code(node: Node, path: str | None = None) -> tuple[str, str]:
    """``(imports, code)`` defining ``make_datasets``; the code reads ``SETTINGS["seed"]`` and
    ``SETTINGS["val_split"]``. ``path`` overrides a user path param (the runtime passes it
    resolved against the project's folder)."""
    spec = node.spec
    if spec is None:
        raise CodegenError(f"{node.label}: unknown data type {node.type_id!r}", node.id)
    p = node.params
    source = spec.extra["source"]
    if source == "style_images":  # one pair of pictures, not data sets: make_images
        from torchcanvas.codegen.style import resolve_image_paths, style_data_code

        return style_data_code(node, resolve_image_paths(node, None))
    imports = "from torch.utils.data import TensorDataset"
    if source == "sklearn":
        code = _sklearn(node, p)
        if p.get("rotation_degrees"):
            imports += "\nfrom torchvision.transforms import v2 as transforms"
    elif source == "synthetic":
        code = _synthetic(node, p)
    elif source == "bundled_csv":
        code = _bundled_csv(node, p)
        imports += "\nimport csv\nimport math"
    elif source == "csv":
        code = _csv(node, p, path)
        imports += "\nimport csv\nimport math"
    elif source in ("imagefolder", "bundled_imagefolder"):
        imports = (
            "from torch.utils.data import Subset\nfrom torchvision import datasets\n"
            "from torchvision.transforms import v2 as transforms"
        )
        code = _imagefolder(node, p, path)
    elif source == "torchvision":
        imports = (
            "from torchvision import datasets\nfrom torchvision.transforms import v2 as transforms"
        )
        code = _torchvision(node, p, path)
    elif source == "text_corpus":
        imports += "\nimport json\nimport math\nimport re\nfrom collections import Counter"
        code = TEXT_HELPERS + "\n\n" + _text_corpus(node, p, path)
    elif source == "text_labels":
        imports += "\nimport csv\nimport json\nimport re\nfrom collections import Counter"
        code = TEXT_HELPERS + "\n\n" + _text_labels(node, p, path)
    else:  # pragma: no cover - the catalogue and this table are checked together by tests
        raise CodegenError(f"{node.label}: no data template for {source!r}", node.id)
    if spec.extra.get("image") and source != "sklearn":
        code = IMAGE_HELPERS + "\n\n" + code
    return imports, COMMON + "\n\n" + code


def _sklearn(node: Node, p: dict[str, Any]) -> str:
    file = data_file_name(node)
    classes = node.spec.extra.get("task") == "classification"
    if node.type_id == "data.Digits":
        prep = "    x = x.reshape(-1, 1, 8, 8)\n"
        if p["normalize"]:
            prep += "    x = x / 16.0  # pixels 0..16 → 0..1\n"
        if p.get("rotation_degrees"):
            return _digits_augmented(file, prep, p)
    else:
        prep = "    x = standardize(x, train_idx)\n" if p["standardize"] else ""
    names = '    classes = data["classes"]\n' if classes else "    classes = None\n"
    return (
        "def make_datasets(data_dir: Path):\n"
        f'    """{node.spec.help}"""\n'
        f"    data = torch.load(Path(data_dir) / {quote(file)}, weights_only=True)\n"
        '    x, y = data["x"], data["y"]\n'
        '    train_idx, val_idx = split_indices(len(x), SETTINGS["val_split"], SETTINGS["seed"])\n'
        f"{prep}{names}"
        "    train_set = TensorDataset(x[train_idx], y[train_idx])\n"
        "    val_set = TensorDataset(x[val_idx], y[val_idx])\n"
        "    return train_set, val_set, classes\n"
    )


def _digits_augmented(file: str, prep: str, p: dict[str, Any]) -> str:
    deg = literal(p["rotation_degrees"])
    return (
        "class Augmented(torch.utils.data.Dataset):\n"
        '    """Randomly rotated training digits."""\n\n'
        "    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:\n"
        "        self.x, self.y = x, y\n"
        f"        self.rotate = transforms.RandomRotation({deg})\n\n"
        "    def __len__(self) -> int:\n"
        "        return len(self.x)\n\n"
        "    def __getitem__(self, i: int):\n"
        "        return self.rotate(self.x[i]), self.y[i]\n\n\n"
        "def make_datasets(data_dir: Path):\n"
        f"    data = torch.load(Path(data_dir) / {quote(file)}, weights_only=True)\n"
        '    x, y = data["x"], data["y"]\n'
        '    train_idx, val_idx = split_indices(len(x), SETTINGS["val_split"], SETTINGS["seed"])\n'
        f"{prep}"
        "    train_set = Augmented(x[train_idx], y[train_idx])\n"
        "    val_set = TensorDataset(x[val_idx], y[val_idx])\n"
        '    return train_set, val_set, data["classes"]\n'
    )


def _synthetic(node: Node, p: dict[str, Any]) -> str:
    n = literal(p["n_samples"])
    classes = "None"
    if node.type_id == "data.RandomImages":
        shape = ", ".join(literal(d) for d in p["shape"])
        k = literal(p["num_classes"])
        make = (
            f"    x = torch.randn({n}, {shape}, generator=g)\n"
            f"    y = torch.randint({k}, ({n},), generator=g)\n"
        )
        classes = f"[str(c) for c in range({k})]"
    elif node.type_id == "data.LinearSynthetic":
        make = (
            f"    x = torch.rand({n}, 1, generator=g)\n"
            f"    y = {literal(p['weight'])} * x + {literal(p['bias'])}"
            f" + {literal(p['noise'])} * torch.randn({n}, 1, generator=g)\n"
        )
    else:
        i, o = literal(p["in_features"]), literal(p["out_features"])
        make = (
            f"    x = torch.randn({n}, {i}, generator=g)\n"
            f"    true_map = torch.randn({i}, {o}, generator=g)\n"
            f"    y = x @ true_map + {literal(p['noise'])} * torch.randn({n}, {o}, generator=g)\n"
        )
    return (
        "def make_datasets(data_dir: Path):\n"
        f'    """{node.spec.help}"""\n'
        '    g = torch.Generator().manual_seed(SETTINGS["seed"])\n'
        f"{make}"
        '    train_idx, val_idx = split_indices(len(x), SETTINGS["val_split"], SETTINGS["seed"])\n'
        "    train_set = TensorDataset(x[train_idx], y[train_idx])\n"
        "    val_set = TensorDataset(x[val_idx], y[val_idx])\n"
        f"    return train_set, val_set, {classes}\n"
    )


CSV_READER = '''
def parse_number(text: str, path: Path, line: int, column: str) -> float:
    """One table cell as a finite number; the error names the file, line and column."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value):
        what = f"{text.strip()!r}, not a number" if text.strip() else "empty"
        raise ValueError(f"{path}, line {line}: column {column!r} is {what}")
    return value


def read_csv(path: Path, features: list[str], target: str, delimiter: str, numeric: bool):
    """Numeric feature columns and the target column of a CSV file with a header row; the
    targets are numbers when ``numeric`` (regression), else label strings."""
    # utf-8-sig: spreadsheet programs often start the file with a byte-order mark
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=delimiter)
        header = [h.strip() for h in next(reader, [])]
        if not header:
            raise ValueError(f"{path}: the file is empty")
        if target not in header:
            raise ValueError(f"{path}: no column {target!r} (columns: {', '.join(header)})")
        features = features or [h for h in header if h != target]
        missing = [c for c in features if c not in header]
        if missing:
            raise ValueError(f"{path}: no column {missing[0]!r} (columns: {', '.join(header)})")
        cols, t = [header.index(c) for c in features], header.index(target)
        x, labels = [], []
        for row in reader:
            if not any(c.strip() for c in row):
                continue  # blank line
            line = reader.line_num
            cells = row + [""] * (len(header) - len(row))  # a short row lacks its last values
            x.append([parse_number(cells[c], path, line, header[c]) for c in cols])
            label = cells[t].strip()
            if not label:
                raise ValueError(f"{path}, line {line}: column {target!r} is empty")
            labels.append(parse_number(label, path, line, target) if numeric else label)
    if not x:
        raise ValueError(f"{path}: no data rows below the header")
    return torch.tensor(x, dtype=torch.float32), labels
'''

CLASS_NAMES = '''
def class_names(labels: list[str]) -> list[str]:
    """The sorted distinct labels; numbers sort as numbers (2 before 10)."""
    try:
        return sorted(set(labels), key=lambda v: (float(v), v))
    except ValueError:
        return sorted(set(labels))
'''


def _table_body(p: dict[str, Any], standardize: bool, task: str) -> str:
    if task == "classification":
        targets = (
            "    classes = class_names(labels)\n"
            "    index = {name: i for i, name in enumerate(classes)}\n"
            "    y = torch.tensor([index[v] for v in labels])\n"
        )
    else:
        targets = (
            "    y = torch.tensor(labels, dtype=torch.float32).reshape(-1, 1)\n    classes = None\n"
        )
    prep = ""
    if standardize:
        prep = "    x = standardize(x, train_idx)\n"
        if task != "classification":
            prep += "    y = standardize(y, train_idx)\n"
    return (
        f"{targets}"
        '    train_idx, val_idx = split_indices(len(x), SETTINGS["val_split"], SETTINGS["seed"])\n'
        f"{prep}"
        "    train_set = TensorDataset(x[train_idx], y[train_idx])\n"
        "    val_set = TensorDataset(x[val_idx], y[val_idx])\n"
        "    return train_set, val_set, classes\n"
    )


def _reader(task: str) -> str:
    return CSV_READER + ("\n" + CLASS_NAMES if task == "classification" else "") + "\n\n"


def _bundled_csv(node: Node, p: dict[str, Any]) -> str:
    extra = node.spec.extra
    return (
        _reader(extra["task"]) + "def make_datasets(data_dir: Path):\n"
        f'    """{node.spec.help}"""\n'
        f"    x, labels = read_csv(Path(data_dir) / {quote(extra['file'])}, "
        f'{literal(list(extra["features"]), as_tuple=False)}, {quote(extra["target"])}, ",", '
        f"{literal(extra['task'] != 'classification')})\n"
        + _table_body(p, p["standardize"], extra["task"])
    )


def _user_path(node: Node, p: dict[str, Any], path: str | None) -> str:
    value = path if path is not None else p["path"]
    if not value:
        raise CodegenError(f"{node.label}: choose a file or folder (param 'path')", node.id, "path")
    return value


def _csv(node: Node, p: dict[str, Any], path: str | None) -> str:
    file = _user_path(node, p, path)
    return (
        _reader(p["task"]) + "def make_datasets(data_dir: Path):\n"
        f'    """Your table {doc_text(file)} → {doc_text(p["target_column"])}."""\n'
        f"    x, labels = read_csv(Path({quote(file)}), "
        f"{literal(p['feature_columns'], as_tuple=False)}, {quote(p['target_column'])}, "
        f"{quote(p['delimiter'])}, {literal(p['task'] != 'classification')})\n"
        + _table_body(p, p["standardize"], p["task"])
    )


def _imagefolder(node: Node, p: dict[str, Any], path: str | None) -> str:
    if node.spec.extra["source"] == "bundled_imagefolder":  # copied into data_dir
        folder = node.spec.extra["folder"]
        root, root_expr = folder, f"Path(data_dir) / {quote(folder)}"
    else:
        root = _user_path(node, p, path)
        root_expr = f"Path({quote(root)})"
    h, w = p["image_size"]
    gray = "transforms.Grayscale(), " if p.get("grayscale") else ""
    stats = (
        "    plain = Resized(root, image_transforms(None, None, False))\n"
        "    mean, std = channel_stats(Subset(plain, train_idx.tolist()))\n"
        if p["normalize"]
        else "    mean = std = None\n"
    )
    return (
        f"SIZE = ({h}, {w})\n{_augment(p)}\n\n\n"
        "class Resized(datasets.ImageFolder):\n"
        '    """ImageFolder that resizes (and optionally greys) every image first."""\n\n'
        "    def __init__(self, root, transform):\n"
        f"        pre = transforms.Compose([{gray}transforms.Resize(SIZE)])\n"
        "        super().__init__(root, transform=transforms.Compose([pre, transform]))\n\n\n"
        "def make_datasets(data_dir: Path):\n"
        f'    """Images from {doc_text(root)}, one folder per class."""\n'
        f"    root = {root_expr}\n"
        "    n = len(datasets.ImageFolder(root))\n"
        '    train_idx, val_idx = split_indices(n, SETTINGS["val_split"], SETTINGS["seed"])\n'
        + stats
        + "    train_full = Resized(root, image_transforms(mean, std, True))\n"
        "    val_full = Resized(root, image_transforms(mean, std, False))\n"
        "    train_set = Subset(train_full, train_idx.tolist())\n"
        "    val_set = Subset(val_full, val_idx.tolist())\n"
        "    return train_set, val_set, train_full.classes\n"
    )


_TV_SIZES = {"MNIST": (28, 28), "FashionMNIST": (28, 28), "CIFAR10": (32, 32)}


def _tv_files(name: str) -> list[str]:
    """The files torchvision reads for ``name``, relative to the root folder."""
    if name == "CIFAR10":
        return [
            f"cifar-10-batches-py/{f}"
            for f in (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
        ]
    return [
        f"{name}/raw/{split}-{kind}-ubyte"
        for split in ("train", "t10k")
        for kind in ("images-idx3", "labels-idx1")
    ]


def _torchvision(node: Node, p: dict[str, Any], path: str | None) -> str:
    root = _user_path(node, p, path)
    name = node.spec.extra["dataset"]
    h, w = _TV_SIZES[name]
    files = "".join(f"    {quote(f)},\n" for f in _tv_files(name))
    load = f"datasets.{name}(root, train=train, download=False, transform=transform)"
    if name == "CIFAR10":
        load = (
            "    try:\n"
            f"        return {load}\n"
            "    except RuntimeError:  # torchvision checks each file's MD5 sum\n"
            '        folder = root / "cifar-10-batches-py"\n'
            "        raise RuntimeError(\n"
            '            f"{folder}: the files differ from the published CIFAR-10 python "\n'
            '            "version (their MD5 sums do not match); unpack "\n'
            '            "cifar-10-python.tar.gz again") from None\n'
        )
    else:
        load = f"    return {load}\n"
    stats = (
        "    plain = load_split(root, True, image_transforms(None, None, False))\n"
        "    mean, std = channel_stats(plain)\n"
        if p["normalize"]
        else "    mean = std = None\n"
    )
    return (
        f"SIZE = ({h}, {w})\n{_augment(p)}\n"
        f"FILES = [  # what torchvision reads under the folder\n{files}]\n\n\n"
        "def load_split(root: Path, train: bool, transform):\n"
        f'    """The {name} training or test split from local files (nothing is downloaded)."""\n'
        "    for name in FILES:\n"
        "        if not (root / name).is_file():\n"
        '            gz = (root / f"{name}.gz").is_file()\n'
        '            hint = "unpack the .gz file" if gz else "put the files there"\n'
        '            raise FileNotFoundError(f"{root}: no file {name} ({hint})")\n'
        f"{load}\n\n"
        "def make_datasets(data_dir: Path):\n"
        f'    """{name} from files in {doc_text(root)} (download is off)."""\n'
        f"    root = Path({quote(root)})\n"
        f"{stats}"
        "    train_set = load_split(root, True, image_transforms(mean, std, True))\n"
        "    val_set = load_split(root, False, image_transforms(mean, std, False))\n"
        "    return train_set, val_set, list(train_set.classes)\n"
    )


# ---------------------------------------------------------------------------- text
TEXT_HELPERS = """
PAD, UNK = "<pad>", "<unk>"
WORD = re.compile(r"\\w+|[^\\w\\s]")  # a word, or one punctuation mark


class Vocab:
    \"\"\"Tokens and their ids, built from the training text; saved as vocab.json.\"\"\"

    def __init__(self, tokens, level: str, lowercase: bool, classes=None) -> None:
        self.tokens, self.level, self.lowercase = list(tokens), level, lowercase
        self.classes = list(classes) if classes else None
        self.index = {token: i for i, token in enumerate(self.tokens)}
        self.unk = self.index[UNK]

    @classmethod
    def build(cls, texts, level: str, lowercase: bool, max_size: int, specials, classes=None):
        \"\"\"The specials, then the most frequent tokens (ties alphabetically), at most
        ``max_size`` in all (0: every token).\"\"\"
        counts = Counter()
        for text in texts:
            counts.update(split_text(text, level, lowercase))
        ranked = sorted(counts, key=lambda token: (-counts[token], token))
        if max_size:
            ranked = ranked[: max(max_size - len(specials), 0)]
        return cls([*specials, *ranked], level, lowercase, classes)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        return [self.index.get(t, self.unk) for t in split_text(text, self.level, self.lowercase)]

    def decode(self, ids) -> str:
        return ("" if self.level == "char" else " ").join(self.tokens[i] for i in ids)

    def save(self, path) -> None:
        state = {"level": self.level, "lowercase": self.lowercase, "tokens": self.tokens}
        if self.classes:
            state["classes"] = self.classes
        Path(path).write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path):
        state = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(state["tokens"], state["level"], state["lowercase"], state.get("classes"))


def split_text(text: str, level: str, lowercase: bool) -> list[str]:
    \"\"\"Characters, or words and punctuation marks.\"\"\"
    if lowercase:
        text = text.lower()
    return list(text) if level == "char" else WORD.findall(text)
"""

GENERATE = """

@torch.no_grad()
def generate(
    model, vocab, prompt: str, length: int, temperature: float = 1.0, top_k: int = 0, seed=None
) -> str:
    \"\"\"Continue ``prompt`` by ``length`` tokens, each drawn from the model's next-token
    distribution (divided by ``temperature``; only the ``top_k`` likeliest when above 0).\"\"\"
    if temperature <= 0:
        raise ValueError("temperature must be above 0")
    ids = vocab.encode(prompt)
    if not ids:
        raise ValueError("the prompt is empty: type some text to continue")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    was_training = model.training
    model.eval()
    new = []
    for _ in range(length):
        logits = model(torch.tensor([ids[-SEQ_LENGTH:]], device=device))
        if logits.dim() == 3:  # [1, vocab, T], cross-entropy's layout: the last step
            logits = logits[:, :, -1]
        logits = logits[0].float().cpu() / temperature
        logits[vocab.unk] = -math.inf  # never write the unknown-token
        if top_k > 0:
            kth = torch.topk(logits, min(top_k, len(logits))).values[-1]
            logits[logits < kth] = -math.inf
        token = int(torch.multinomial(torch.softmax(logits, 0), 1, generator=generator))
        ids.append(token)
        new.append(token)
    model.train(was_training)
    return vocab.decode(new)
"""

PREDICT = """

@torch.no_grad()
def predict(model, vocab, text: str) -> tuple[str, float]:
    \"\"\"The label the model gives ``text``, and its probability.\"\"\"
    device = next(model.parameters()).device
    x = torch.tensor([pad_ids(vocab.encode(text), MAX_LENGTH, PADDING)], device=device)
    was_training = model.training
    model.eval()
    logits = model(x).reshape(-1).float().cpu()
    model.train(was_training)
    if len(logits) == 1:  # one score: a binary classifier's logit
        p = torch.sigmoid(logits)[0].item()
        return (vocab.classes[1], p) if p >= 0.5 else (vocab.classes[0], 1 - p)
    probs = torch.softmax(logits, 0)
    best = int(probs.argmax())
    return vocab.classes[best], probs[best].item()
"""


def text_task(node: Node) -> str | None:
    """ "generate" for a language-model corpus, "classify" for labelled text, else None."""
    return node.spec.extra.get("text") if node.spec is not None else None


def text_inference_code(node: Node) -> str:
    """The sampling (language model) or prediction (classifier) function of train.py."""
    return GENERATE if text_task(node) == "generate" else PREDICT


def _text_source(node: Node, p: dict[str, Any], path: str | None) -> str:
    if p.get("path"):
        file = _user_path(node, p, path)
        return f"Path({quote(file)})"
    return f"Path(data_dir) / {quote(node.spec.extra['file'])}"


def _text_corpus(node: Node, p: dict[str, Any], path: str | None) -> str:
    where = _text_source(node, p, path)
    level = "Characters" if p["level"] == "char" else "Words"
    return (
        f"SEQ_LENGTH = {literal(p['seq_length'])}  # tokens per window\n"
        f"STRIDE = {literal(p['stride'])}  # tokens between window starts\n\n\n"
        "def windows(ids: torch.Tensor, stride: int) -> TensorDataset:\n"
        '    """Windows of SEQ_LENGTH tokens (x) and the same windows one token on (y)."""\n'
        "    if len(ids) <= SEQ_LENGTH:  # too short for one window\n"
        "        empty = torch.empty(0, SEQ_LENGTH, dtype=torch.long)\n"
        "        return TensorDataset(empty, empty)\n"
        "    chunks = ids.unfold(0, SEQ_LENGTH + 1, stride)\n"
        "    return TensorDataset(chunks[:, :-1].contiguous(), chunks[:, 1:].contiguous())\n\n\n"
        "def make_datasets(data_dir: Path):\n"
        f'    """{level} of the text, in windows for next-token prediction; the last val_split\n'
        '    of the text validates, and the vocabulary comes from the rest."""\n'
        f"    path = {where}\n"
        '    text = path.read_text(encoding="utf-8")\n'
        '    cut = round(len(text) * (1 - SETTINGS["val_split"]))  # the end validates\n'
        f"    vocab = Vocab.build([text[:cut]], {quote(p['level'])}, {literal(p['lowercase'])}, "
        f"{literal(p['max_vocab'])}, [UNK])\n"
        "    train_ids = torch.tensor(vocab.encode(text[:cut]), dtype=torch.long)\n"
        "    if len(train_ids) <= SEQ_LENGTH:\n"
        "        raise ValueError(\n"
        '            f"{path}: the training text has {len(train_ids)} tokens; "\n'
        '            f"seq_length ({SEQ_LENGTH}) needs more"\n'
        "        )\n"
        "    train_set = windows(train_ids, STRIDE)\n"
        "    val_ids = torch.tensor(vocab.encode(text[cut:]), dtype=torch.long)\n"
        "    val_set = windows(val_ids, SEQ_LENGTH)\n"
        "    train_set.vocab = vocab  # generation and export use this exact vocabulary\n"
        "    return train_set, val_set, None\n"
    )


LABELLED_READER = """
def read_labelled(path: Path, text_column: str, label_column: str, delimiter: str):
    \"\"\"(texts, labels) of a table with a header row, or of a folder holding one sub-folder
    of .txt files per label.\"\"\"
    if path.is_dir():
        texts, labels = [], []
        for folder in sorted(p for p in path.iterdir() if p.is_dir()):
            for file in sorted(folder.glob("*.txt")):
                texts.append(file.read_text(encoding="utf-8"))
                labels.append(folder.name)
        if not texts:
            raise ValueError(f"{path}: no .txt files in sub-folders (one sub-folder per label)")
        return texts, labels
    if delimiter == "detect":
        delimiter = "\\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    # utf-8-sig: spreadsheet programs often start the file with a byte-order mark
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=delimiter)
        header = [h.strip() for h in next(reader, [])]
        for column in (text_column, label_column):
            if column not in header:
                raise ValueError(f"{path}: no column {column!r} (columns: {', '.join(header)})")
        t, y = header.index(text_column), header.index(label_column)
        texts, labels = [], []
        for row in reader:
            if not any(c.strip() for c in row):
                continue  # blank line
            cells = row + [""] * (len(header) - len(row))
            if not cells[y].strip():
                raise ValueError(
                    f"{path}, line {reader.line_num}: column {label_column!r} is empty"
                )
            texts.append(cells[t])
            labels.append(cells[y].strip())
    if not texts:
        raise ValueError(f"{path}: no data rows below the header")
    return texts, labels


def pad_ids(ids: list[int], length: int, side: str) -> list[int]:
    \"\"\"Cut to ``length`` ids (keeping the start), then pad with 0 (<pad>) on ``side``.\"\"\"
    ids = ids[:length]
    fill = [0] * (length - len(ids))
    return fill + ids if side == "left" else ids + fill
"""


def _text_labels(node: Node, p: dict[str, Any], path: str | None) -> str:
    where = _text_source(node, p, path)
    return (
        LABELLED_READER + "\n" + CLASS_NAMES + "\n\n"
        f"MAX_LENGTH = {literal(p['max_length'])}  # tokens per text\n"
        f"PADDING = {quote(p['padding'])}  # where the <pad> ids go\n\n\n"
        "def make_datasets(data_dir: Path):\n"
        '    """Labelled texts as padded token ids and class indices; the vocabulary comes\n'
        '    from the training texts."""\n'
        f"    texts, labels = read_labelled({where}, {quote(p['text_column'])}, "
        f"{quote(p['label_column'])}, {quote(p['delimiter'])})\n"
        "    classes = class_names(labels)\n"
        "    index = {name: i for i, name in enumerate(classes)}\n"
        "    y = torch.tensor([index[v] for v in labels])\n"
        "    train_idx, val_idx = "
        'split_indices(len(texts), SETTINGS["val_split"], SETTINGS["seed"])\n'
        "    vocab = Vocab.build(\n"
        "        [texts[i] for i in train_idx.tolist()],\n"
        f"        {quote(p['level'])},\n"
        f"        {literal(p['lowercase'])},\n"
        f"        {literal(p['max_vocab'])},\n"
        "        [PAD, UNK],\n"
        "        classes,\n"
        "    )\n"
        "    x = torch.tensor([pad_ids(vocab.encode(t), MAX_LENGTH, PADDING) for t in texts])\n"
        "    train_set = TensorDataset(x[train_idx], y[train_idx])\n"
        "    val_set = TensorDataset(x[val_idx], y[val_idx])\n"
        "    train_set.vocab = vocab  # prediction and export use this exact vocabulary\n"
        "    return train_set, val_set, classes\n"
    )
