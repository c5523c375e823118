"""The five papers' tables, quoted, and which of our evaluated rows answers each table row.

Every number in ``quoted`` is copied from the paper (``shared/papers/``) and is shown in the
reports labelled "quoted from <paper>"; ``ours`` names the evaluated row (method, fusion,
rerank, crop-eval row; a glob means the best matching row) whose measured metric stands beside
it. ``None`` means this suite has no counterpart for that row here, and the report says why
(``note``). Nothing in this module is a result of ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TableRow:
    """One row of a paper table: its label, the quoted values, and our counterpart."""

    label: str
    quoted: dict[str, float]
    ours: str | None = None
    note: str = ""


@dataclass(frozen=True)
class PaperTable:
    """A paper table; ``columns`` maps each quoted column to our metrics-file key."""

    name: str
    caption: str
    columns: dict[str, str]
    rows: tuple[TableRow, ...]
    percent: bool = False  # quoted values in %, ours are shown x100 for the comparison
    metrics_file: str | None = None  # ours read from metrics/<file>.json instead of per-row files


@dataclass(frozen=True)
class Paper:
    """A reproduced paper: id, title, its data and metric, and its tables."""

    id: str
    title: str
    data: str
    metric: str
    tables: tuple[PaperTable, ...] = field(default_factory=tuple)
    notes: str = ""


PAPERS: dict[str, Paper] = {
    "shang": Paper(
        "shang", "Fashion Product Search Based on Multi-model Fusion and Re-rank",
        "JD-style shop/consumer data, 3 categories (bags, clothes, shoes), 150k+ gallery", "mAP",
        (PaperTable("Table I", "mAP of the single best model, the distance fusion of four models, and fusion + top-1 re-rank",
                    {"mAP": "mAP"},
                    (TableRow("Original (best single model)", {"mAP": 0.3544}, "shang-single-*"),
                     TableRow("Fusion", {"mAP": 0.4176}, "shang-fusion"),
                     TableRow("Fusion + Re-rank", {"mAP": 0.5375}, "shang-fusion-rerank"))),)),
    "park": Paper(
        "park", "Study on Fashion Image Retrieval Methods for Efficient Fashion Visual Search",
        "DeepFashion In-Shop, Consumer-to-Shop, Category Prediction", "top-k accuracy",
        (PaperTable("Table 1", "In-Shop retrieval top-5 / top-20 accuracy by loss path",
                    {"top-5": "top5", "top-20": "top20"},
                    (TableRow("ResNet50 OC", {"top-5": 0.633, "top-20": 0.766}, "park-oc"),
                     TableRow("ResNet50 OC+OS", {"top-5": 0.569, "top-20": 0.695}, "park-oc-os"),
                     TableRow("ResNet50 OC+IS", {"top-5": 0.826, "top-20": 0.905}, "park-oc-is"),
                     TableRow("DenseNet121 OC", {"top-5": 0.768, "top-20": 0.873}, "park-densenet-oc"),
                     TableRow("DenseNet121 OC+OS", {"top-5": 0.628, "top-20": 0.749}, "park-densenet-oc-os"),
                     TableRow("DenseNet121 OC+IS", {"top-5": 0.823, "top-20": 0.909}, "park-densenet-oc-is"))),
         PaperTable("Table 2", "category prediction top-3 / top-5 accuracy (%) with the OC path",
                    {"top-3": "category_top3", "top-5": "category_top5"},
                    (TableRow("ResNet50+OC", {"top-3": 87.34, "top-5": 93.42}, "park-oc"),
                     TableRow("DenseNet121+OC", {"top-3": 87.58, "top-5": 93.39}, "park-densenet-oc"),
                     TableRow("SEResNet50+OC", {"top-3": 87.58, "top-5": 93.58}, "park-seresnet-oc"),
                     TableRow("SEResNeXt50+OC", {"top-3": 88.42, "top-5": 93.93}, "park-seresnext-oc")),
                    percent=True))),
    "chen": Paper(
        "chen", "Multi-Granularity Part Alignment Convolutional Network for Commodity Retrieval",
        "JD AI Fashion Challenge (clothes, bags, shoes; 154,294 gallery, 1,000 queries)", "mAP, mAP@10, rank-1",
        (PaperTable("Table 1", "clothes mAP (%) by partition set and backbone",
                    {"mAP": "mAP"},
                    (TableRow("Horizontal, ResNet50", {"mAP": 40.32}, "chen-horizontal"),
                     TableRow("Vertical, ResNet50", {"mAP": 40.32}, "chen-vertical"),
                     TableRow("Annular, ResNet50", {"mAP": 43.19}, "chen-annular"),
                     TableRow("All, DenseNet169", {"mAP": 48.47}, None, "backbone not run here"),
                     TableRow("All, ResNeXt101", {"mAP": 51.84}, None, "backbone not run here"),
                     TableRow("All, ResNet152", {"mAP": 53.22}, None, "backbone not run here"),
                     TableRow("All, ResNet101 (512)", {"mAP": 53.18}, None, "backbone not run here"),
                     TableRow("All, ResNet101 (256)", {"mAP": 54.76}, "chen-all")),
                    percent=True),)),
    "zhan": Paper(
        "zhan", "XMU_PAMI at JD AI Fashion Challenge: Fashion-Item Matching",
        "JD AI Fashion Challenge, 12k shop/user pairs", "triplet accuracy, mAP",
        (PaperTable("Table I", "ResNet-18 triplet accuracy (%) by initialisation and margin",
                    {"triplet accuracy": "triplet_accuracy"},
                    (TableRow("random init, m=1", {"triplet accuracy": 89.65}, "zhan-random-m1"),
                     TableRow("random init, m=4", {"triplet accuracy": 90.62}, "zhan-random-m4"),
                     TableRow("ImageNet init, m=1", {"triplet accuracy": 97.13}, "zhan-imagenet-m1"),
                     TableRow("ImageNet init, m=4", {"triplet accuracy": 97.71}, "zhan-imagenet-m4")),
                    percent=True),
         PaperTable("Table II", "ResNet-50 (ImageNet) triplet accuracy (%) by margin and negatives",
                    {"triplet accuracy": "triplet_accuracy"},
                    (TableRow("m=1", {"triplet accuracy": 97.65}, "zhan-r50-m1"),
                     TableRow("m=2", {"triplet accuracy": 97.92}, "zhan-r50-m2"),
                     TableRow("m=4", {"triplet accuracy": 98.08}, "zhan-r50-m4"),
                     TableRow("m=8", {"triplet accuracy": 97.59}, "zhan-r50-m8"),
                     TableRow("m=4, hard & easy", {"triplet accuracy": 98.71}, "zhan-hardeasy-m4"),
                     TableRow("m=8, hard & easy", {"triplet accuracy": 98.71}, "zhan-hardeasy-m8")),
                    percent=True),
         PaperTable("Table III", "retrieval mAP", {"mAP": "mAP"},
                    (TableRow("trained on train", {"mAP": 0.2127}, "zhan-hardeasy-m4"),
                     TableRow("trained on train + validation", {"mAP": 0.2735}, None,
                              "train+validation retraining not run here")))),
    ),
    "ji": Paper(
        "ji", "An Effective Pipeline for a Real-world Clothes Retrieval System",
        "DeepFashion2 retrieval (+Street2Shop, DARN, MVC, MPV, Zalando)", "AP50 (detection), Acc@1, Acc@10",
        (PaperTable("Table 5", "detection AP50 (%) as detectors are fused with WBF",
                    {"AP50": "ap50"},
                    (TableRow("1 detector", {"AP50": 83.6}, "ap50_wbf_1"),
                     TableRow("2 detectors", {"AP50": 84.0}, "ap50_wbf_2"),
                     TableRow("3 detectors", {"AP50": 84.9}, "ap50_wbf_3"),
                     TableRow("4 detectors", {"AP50": 85.4}, "ap50_wbf_4"),
                     TableRow("5 detectors", {"AP50": 85.8}, "ap50_wbf_5")),
                    percent=True, metrics_file="detect"),
         PaperTable("Table 6", "single models vs concatenation of L2-normalised features (Acc@10)",
                    {"Acc@10 gain": "top10"},
                    (TableRow("concatenation vs best single model", {"Acc@10 gain": 0.019}, "ji-concat"),)),
         PaperTable("Table 7", "post-processing ablation (Acc@10)", {"Acc@10": "top10"},
                    (TableRow("without k-reciprocal re-ranking", {"Acc@10": 0.8538}, "ji-concat"),
                     TableRow("with k-reciprocal re-ranking", {"Acc@10": 0.8581}, "ji-kreciprocal")))),
        notes="Table 6 quotes a gain, not an absolute value: our row shows our absolute Acc@10."),
}


def paper(paper_id: str) -> Paper:
    """The :class:`Paper` with id ``paper_id`` (ConfigError naming the known ids otherwise)."""
    from .errors import ConfigError

    if paper_id not in PAPERS:
        raise ConfigError(f"paper: unknown paper {paper_id!r}; known: {sorted(PAPERS)}")
    return PAPERS[paper_id]
