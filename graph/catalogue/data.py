"""Data sources. Each has outputs ``x`` (inputs) and ``y`` (targets).

``extra["task"]`` is "classification" or "regression"; ``extra["source"]`` tells codegen which data
template writes its ``make_datasets``. Bundled sets need no network: scikit-learn ships them, or
they are generated from a seed, or they are small files in assets/.
"""

from __future__ import annotations

from torchcanvas.graph.catalogue import register
from torchcanvas.graph.catalogue._build import p
from torchcanvas.graph.spec import NodeSpec, PortSpec

XY = (PortSpec("x", help="inputs"), PortSpec("y", help="targets"))

STANDARDIZE = p(
    "standardize",
    "bool",
    True,
    "scale each feature to mean 0, std 1 (statistics of the training split)",
)
SHUFFLE = p("shuffle", "bool", True, "shuffle the training samples every epoch")
WEIGHTED = p(
    "weighted_sampling",
    "bool",
    False,
    "draw training samples with weights inverse to their class frequency (for imbalanced classes)",
)
N_SAMPLES = p("n_samples", "int", 100, "number of samples", minimum=2, maximum=10_000_000)

AUGMENT = (
    p(
        "random_crop_padding",
        "int",
        0,
        "augmentation: pad by this many pixels and crop back at a random position (0 = off)",
        minimum=0,
        maximum=64,
    ),
    p("horizontal_flip", "bool", False, "augmentation: flip training images left-right at random"),
    p(
        "rotation_degrees",
        "float",
        0.0,
        "augmentation: rotate training images by up to ± degrees",
        minimum=0.0,
        maximum=180.0,
    ),
)
IMAGE_NORMALIZE = p(
    "normalize",
    "bool",
    True,
    "normalise pixels with the per-channel mean and std of the training images",
)


def max_vocab(default: int):
    return p(
        "max_vocab",
        "int",
        default,
        "keep this many tokens, the most frequent (0: all); the rest read as <unk>",
        minimum=0,
        maximum=10_000_000,
    )


def data(type_id, title, params, *, task, source, help, **extra):
    return NodeSpec(
        type_id=type_id,
        title=title,
        category="Data",
        kind="data",
        outputs=XY,
        params=tuple(params),
        help=help,
        label_base="data",
        extra={"task": task, "source": source, **extra},
    )


def sklearn_table(type_id, title, loader, task, help, **extra):
    params = [STANDARDIZE, SHUFFLE] + ([WEIGHTED] if task == "classification" else [])
    return data(
        type_id, title, params, task=task, source="sklearn", loader=loader, help=help, **extra
    )


register(
    [
        data(
            "data.Digits",
            "Digits (8×8 images)",
            (
                p("normalize", "bool", True, "scale pixels from 0..16 to 0..1"),
                *AUGMENT[2:],
                SHUFFLE,
                WEIGHTED,
            ),
            task="classification",
            source="sklearn",
            loader="load_digits",
            image=True,
            help="1,797 handwritten digits as 1×8×8 images, 10 classes (scikit-learn, offline).",
        ),
        sklearn_table(
            "data.Iris",
            "Iris",
            "load_iris",
            "classification",
            "150 iris flowers: 4 measurements → 3 species (scikit-learn, offline).",
        ),
        sklearn_table(
            "data.Wine",
            "Wine",
            "load_wine",
            "classification",
            "178 wines: 13 chemical measurements → 3 cultivars (scikit-learn, offline).",
        ),
        sklearn_table(
            "data.BreastCancer",
            "Breast cancer",
            "load_breast_cancer",
            "classification",
            "569 tumours: 30 features → malignant / benign (scikit-learn, offline).",
        ),
        sklearn_table(
            "data.Diabetes",
            "Diabetes",
            "load_diabetes",
            "regression",
            "442 patients: 10 features → disease progression after a year (scikit-learn, offline).",
        ),
        data(
            "data.LinearSynthetic",
            "Synthetic line",
            (
                N_SAMPLES,
                p("weight", "float", 2.0, "true slope"),
                p("bias", "float", 0.0, "true intercept"),
                p("noise", "float", 0.1, "std of the Gaussian noise added to y", minimum=0.0),
                SHUFFLE,
            ),
            task="regression",
            source="synthetic",
            help="y = weight · x + bias + noise, x uniform in [0, 1): the first regression to try.",
        ),
        data(
            "data.RandomRegression",
            "Random regression",
            (
                N_SAMPLES,
                p("in_features", "int", 10, "features per sample", minimum=1, maximum=100_000),
                p("out_features", "int", 1, "targets per sample", minimum=1, maximum=100_000),
                p("noise", "float", 0.1, "std of the Gaussian noise added to y", minimum=0.0),
                SHUFFLE,
            ),
            task="regression",
            source="synthetic",
            help="Random inputs and targets from a fixed random linear map plus noise.",
        ),
        data(
            "data.RandomImages",
            "Random images",
            (
                p("n_samples", "int", 64, "number of samples", minimum=2, maximum=1_000_000),
                p(
                    "shape",
                    "ints",
                    [3, 64, 64],
                    "shape of one sample, e.g. [channels, height, width]",
                    minimum=1,
                    maximum=4096,
                    length=(1, 4),
                ),
                p(
                    "num_classes",
                    "int",
                    10,
                    "labels are drawn uniformly from 0 .. num_classes - 1",
                    minimum=2,
                    maximum=100_000,
                ),
                SHUFFLE,
            ),
            task="classification",
            source="synthetic",
            help="Gaussian noise inputs with random class labels: a stand-in that gives a model "
            "its input shape (imported models start with it) until real data is wired in.",
        ),
        data(
            "data.HousePrices",
            "House prices",
            (
                p("standardize", "bool", False, "scale area and price to mean 0, std 1"),
                SHUFFLE,
            ),
            task="regression",
            source="bundled_csv",
            file="house_prices.csv",
            features=("living_area",),
            target="price",
            help="Living area (sq ft) → sale price for 200 houses (bundled table).",
        ),
        data(
            "data.CSV",
            "CSV table",
            (
                p(
                    "path",
                    "path",
                    "",
                    "the .csv file (relative paths start at the project's folder)",
                ),
                p(
                    "feature_columns",
                    "strs",
                    [],
                    "columns used as inputs (empty = all but the target)",
                ),
                p("target_column", "str", "target", "column to predict"),
                p(
                    "task",
                    "choice",
                    "regression",
                    "regression (numbers) or classification (labels)",
                    choices=("regression", "classification"),
                ),
                p("delimiter", "choice", ",", "field separator", choices=(",", ";", "\t", "|")),
                STANDARDIZE,
                SHUFFLE,
                WEIGHTED,
            ),
            task="from_param",
            source="csv",
            help="Your own table: pick feature columns and a target column.",
        ),
        data(
            "data.ImageFolder",
            "Image folder",
            (
                p("path", "path", "", "folder with one sub-folder of images per class"),
                p(
                    "image_size",
                    "ints",
                    [64, 64],
                    "resize every image to [height, width]",
                    length=(2, 2),
                    minimum=1,
                    maximum=4096,
                ),
                p("grayscale", "bool", False, "load images with one channel"),
                IMAGE_NORMALIZE,
                *AUGMENT,
                SHUFFLE,
                WEIGHTED,
            ),
            task="classification",
            source="imagefolder",
            image=True,
            help="Images sorted into one folder per class (torchvision ImageFolder).",
        ),
        data(
            "data.Shapes",
            "Shapes (bundled images)",
            (
                p(
                    "image_size",
                    "ints",
                    [32, 32],
                    "resize every image to [height, width]",
                    length=(2, 2),
                    minimum=1,
                    maximum=4096,
                ),
                IMAGE_NORMALIZE,
                *AUGMENT,
                SHUFFLE,
                WEIGHTED,
            ),
            task="classification",
            source="bundled_imagefolder",
            folder="shapes",
            image=True,
            help="90 small pictures of circles, squares and triangles in random colours, one "
            "folder per class (bundled; read like an image folder).",
        ),
        *[
            data(
                f"data.{name}",
                title,
                (
                    p(
                        "path",
                        "path",
                        "",
                        f"folder holding the {title} files (nothing is downloaded)",
                    ),
                    IMAGE_NORMALIZE,
                    *AUGMENT,
                    SHUFFLE,
                    WEIGHTED,
                ),
                task="classification",
                source="torchvision",
                dataset=name,
                image=True,
                help=f"{title} from files already in a local folder; its test split validates.",
            )
            for name, title in (
                ("MNIST", "MNIST"),
                ("FashionMNIST", "Fashion-MNIST"),
                ("CIFAR10", "CIFAR-10"),
            )
        ],
        data(
            "data.TextCorpus",
            "Text corpus",
            (
                p(
                    "path",
                    "path",
                    "",
                    "the .txt file (empty: the bundled stories; relative paths start "
                    "at the project's folder)",
                ),
                p(
                    "level",
                    "choice",
                    "char",
                    "tokens: single characters or words (and punctuation)",
                    choices=("char", "word"),
                ),
                p(
                    "seq_length",
                    "int",
                    64,
                    "tokens per training window",
                    minimum=1,
                    maximum=100_000,
                ),
                p(
                    "stride",
                    "int",
                    16,
                    "tokens between the starts of two windows (seq_length: no overlap)",
                    minimum=1,
                    maximum=100_000,
                ),
                p("lowercase", "bool", False, "lower-case the text first"),
                max_vocab(0),
                SHUFFLE,
            ),
            task="classification",
            source="text_corpus",
            file="tiny_stories.txt",
            text="generate",
            help="Plain text for language modelling: x is a window of token ids [T], y the same "
            "window one token later. The vocabulary is built from the training text (the "
            "first part; the last val_split of the text validates).",
        ),
        data(
            "data.TextClassification",
            "Labelled text",
            (
                p(
                    "path",
                    "path",
                    "",
                    "a .csv/.tsv file with a text and a label column, or a folder "
                    "with one sub-folder of .txt files per label "
                    "(empty: the bundled sentiment set)",
                ),
                p("text_column", "str", "text", "column holding the text (tables only)"),
                p("label_column", "str", "label", "column holding the label (tables only)"),
                p(
                    "delimiter",
                    "choice",
                    "detect",
                    "field separator (detect: tab for .tsv, else comma)",
                    choices=("detect", ",", ";", "\t", "|"),
                ),
                p(
                    "level",
                    "choice",
                    "word",
                    "tokens: words (and punctuation) or single characters",
                    choices=("word", "char"),
                ),
                p("lowercase", "bool", True, "lower-case the text first"),
                p(
                    "max_length",
                    "int",
                    32,
                    "tokens per text: longer texts are cut, shorter ones padded",
                    minimum=1,
                    maximum=100_000,
                ),
                p(
                    "padding",
                    "choice",
                    "left",
                    "where padding goes (left: every text ends at the last "
                    "step, which a recurrent layer's last output sees)",
                    choices=("left", "right"),
                ),
                max_vocab(5000),
                SHUFFLE,
                WEIGHTED,
            ),
            task="classification",
            source="text_labels",
            file="sentiment.csv",
            text="classify",
            help="Texts with labels for classification: x is [max_length] token ids (0 pads), y "
            "the class index. The vocabulary is built from the training texts.",
        ),
    ]
)
