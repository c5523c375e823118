"""Paper ``zhan``: its quoted tables and claims (one unit: see ``papers/zhan/README.md``)."""

from __future__ import annotations

from fashionbench.papers.base import ClaimSpec, Comparison, Paper, PaperTable, TableRow

PAPER = Paper(
    "zhan", "XMU_PAMI at JD AI Fashion Challenge: Fashion-Item Matching",
    "JD AI Fashion Challenge, 12k shop/user pairs", "triplet accuracy, mAP",
    (PaperTable("Table I", "ResNet-18 train / validation triplet accuracy (%) by initialisation and margin, "
                "hard triplets (ours: EfficientNet-Lite0)",
                {"train accuracy": "train_triplet_accuracy", "validation accuracy": "triplet_accuracy"},
                (TableRow("random init, m=1", {"train accuracy": 94.96, "validation accuracy": 89.65},
                          "zhan-random-m1"),
                 TableRow("random init, m=4", {"train accuracy": 94.25, "validation accuracy": 90.62}, None,
                          "not run here (default budget: random init only at m=1, the arm of claim zhan-1)"),
                 TableRow("ImageNet init, m=1", {"train accuracy": 99.43, "validation accuracy": 97.13},
                          "zhan-imagenet-m1"),
                 TableRow("ImageNet init, m=4", {"train accuracy": 99.89, "validation accuracy": 97.71},
                          "zhan-imagenet-m4")),
                percent=True),
     PaperTable("Table II", "ResNet-50 (ImageNet) train / validation triplet accuracy (%) by margin and "
                "negatives; ours: EfficientNet-Lite0 (ImageNet) at 64 px",
                {"train accuracy": "train_triplet_accuracy", "validation accuracy": "triplet_accuracy"},
                (TableRow("m=1, hard", {"train accuracy": 99.59, "validation accuracy": 97.65}, "zhan-imagenet-m1"),
                 TableRow("m=2, hard", {"train accuracy": 99.92, "validation accuracy": 97.92}, "zhan-imagenet-m2"),
                 TableRow("m=4, hard", {"train accuracy": 99.92, "validation accuracy": 98.08}, "zhan-imagenet-m4"),
                 TableRow("m=8, hard", {"train accuracy": 99.66, "validation accuracy": 97.59}, "zhan-imagenet-m8"),
                 TableRow("m=4, hard & easy", {"train accuracy": 99.97, "validation accuracy": 98.71},
                          "zhan-hardeasy-m4"),
                 TableRow("m=8, hard & easy", {"train accuracy": 99.95, "validation accuracy": 98.71}, None,
                          "not run here (default budget: only m=4 hard & easy)")),
                percent=True),
     PaperTable("Table III", "retrieval mAP of the final configuration (m=4, hard & easy)", {"mAP": "mAP"},
                (TableRow("trained on train", {"mAP": 0.2127}, "zhan-hardeasy-m4"),
                 TableRow("trained on train + validation", {"mAP": 0.2735}, None,
                          "not run here (default budget): zhan-hardeasy-m4 with holdout: 0")))),
    notes=("Our rows are EfficientNet-Lite0 at 64 px (the ImageNet weights available offline; the paper: "
           "ResNet-18 in Table I, ResNet-50 in Table II). `zhan-imagenet-*` start from ImageNet, "
           "`zhan-random-m1` is `zhan-imagenet-m1` from random init and nothing else changed (claim zhan-1). "
           "Our triplet accuracy is measured on **one fixed set of validation triplets** for every row (the 20 % "
           "of train items every row holds out; 4 negatives per pair, easy = 1/4 of hard), so rows trained with "
           "hard-only and with hard & easy negatives are compared on the same triplets; 'train accuracy' applies "
           "the same rule to the training items. The paper's Table III mAP is on JD's 150k-image gallery: not "
           "comparable with ours."),
    claims=(
    # zhan: the paper's metric (Tables I-II) is validation triplet accuracy; one row per triplet,
    # bootstrap clusters = anchor items (the triplet_eval stage, fashionbench.papers.zhan.triplets)
    ClaimSpec("zhan-1", "zhan", "ImageNet-initialised beats random init",
              "triplet_accuracy", (Comparison("zhan-imagenet-m1", "zhan-random-m1"),),
              scores="per_triplet", unit="triplet_id", cluster="anchor_item",
              note="EfficientNet-Lite0 at 64 px (paper: ResNet-18 at 224 px); same row, init only differs"),
    ClaimSpec("zhan-2", "zhan", "hard & easy triplets beat hard triplets only",
              "triplet_accuracy", (Comparison("zhan-hardeasy-m4", "zhan-imagenet-m4"),),
              scores="per_triplet", unit="triplet_id", cluster="anchor_item",
              note="EfficientNet-Lite0 (ImageNet) at 64 px, 4 epochs (paper: ResNet-50)"),
    ClaimSpec("zhan-3", "zhan", "a larger margin helps up to a point (m=4 > m=1, m=8 no better than m=4)",
              "triplet_accuracy", (Comparison("zhan-imagenet-m4", "zhan-imagenet-m1"),
                                   Comparison("zhan-imagenet-m8", "zhan-imagenet-m4", "not_gt", margin=0.01)),
              scores="per_triplet", unit="triplet_id", cluster="anchor_item",
              note="both halves: m4 > m1, and m8's gain over m4 under +0.01 triplet accuracy (one point)"),
    ),
)
