"""Paper ``zhan``: its quoted tables and claims (one unit: see ``papers/zhan/README.md``)."""

from __future__ import annotations

from fashionbench.papers.base import ClaimSpec, Comparison, Paper, PaperTable, TableRow

PAPER = Paper(
    "zhan", "XMU_PAMI at JD AI Fashion Challenge: Fashion-Item Matching",
    "JD AI Fashion Challenge, 12k shop/user pairs", "triplet accuracy, mAP",
    (PaperTable("Table I", "ResNet-18 train / validation triplet accuracy (%) by initialisation and margin, "
                "hard triplets",
                {"train accuracy": "train_triplet_accuracy", "validation accuracy": "triplet_accuracy"},
                (TableRow("random init, m=1", {"train accuracy": 94.96, "validation accuracy": 89.65},
                          "zhan-random-m1"),
                 TableRow("random init, m=4", {"train accuracy": 94.25, "validation accuracy": 90.62},
                          "zhan-random-m4"),
                 TableRow("ImageNet init, m=1", {"train accuracy": 99.43, "validation accuracy": 97.13}, "zhan-imagenet-m1",
                          "not run: no ImageNet weights here (paper-profile option, README Paper zhan)"),
                 TableRow("ImageNet init, m=4", {"train accuracy": 99.89, "validation accuracy": 97.71}, "zhan-imagenet-m4",
                          "not run: no ImageNet weights here (paper-profile option, README Paper zhan)")),
                percent=True),
     PaperTable("Table II", "ResNet-50 (ImageNet) train / validation triplet accuracy (%) by margin and "
                "negatives; ours: ResNet-18, random init (stand-ins, see the note above)",
                {"train accuracy": "train_triplet_accuracy", "validation accuracy": "triplet_accuracy"},
                (TableRow("m=1, hard", {"train accuracy": 99.59, "validation accuracy": 97.65}, "zhan-random-m1"),
                 TableRow("m=2, hard", {"train accuracy": 99.92, "validation accuracy": 97.92}, "zhan-random-m2"),
                 TableRow("m=4, hard", {"train accuracy": 99.92, "validation accuracy": 98.08}, "zhan-random-m4"),
                 TableRow("m=8, hard", {"train accuracy": 99.66, "validation accuracy": 97.59}, "zhan-random-m8"),
                 TableRow("m=4, hard & easy", {"train accuracy": 99.97, "validation accuracy": 98.71},
                          "zhan-hardeasy-m4"),
                 TableRow("m=8, hard & easy", {"train accuracy": 99.95, "validation accuracy": 98.71}, "zhan-hardeasy-m8",
                          "not run here (default budget: only m=4 hard & easy)")),
                percent=True),
     PaperTable("Table III", "retrieval mAP of the final configuration (m=4, hard & easy)", {"mAP": "mAP"},
                (TableRow("trained on train", {"mAP": 0.2127}, "zhan-hardeasy-m4"),
                 TableRow("trained on train + validation", {"mAP": 0.2735}, "zhan-hardeasy-m4-trainval",
                          "not run here (default budget): zhan-hardeasy-m4 with holdout: 0")))),
    notes=("Our rows are ResNet-18 with **random init** in every table: no installed package ships ImageNet "
           "weights here, so the paper's ImageNet rows (Table I) are not run and claim zhan-1 is untested; "
           "Table II's ResNet-50 ImageNet rows stand beside our ResNet-18 random-init rows with the same margin "
           "and negatives. Our triplet accuracy is measured on **one fixed set of validation triplets** for every "
           "row (the 20 % of train items each row held out; 4 negatives per pair, easy = 1/4 of hard), so rows "
           "trained with hard-only and with hard & easy negatives are compared on the same triplets; "
           "'train accuracy' applies the same rule to the training items. The paper's Table III mAP is on JD's "
           "150k-image gallery: not comparable with ours."),
    claims=(
    # zhan: the paper's metric (Tables I-II) is validation triplet accuracy; one row per triplet,
    # bootstrap clusters = anchor items (the triplet_eval stage, fashionbench.papers.zhan.triplets)
    ClaimSpec("zhan-1", "zhan", "ImageNet-initialised beats random init",
              "triplet_accuracy", (Comparison("zhan-imagenet-m1", "zhan-random-m1"),),
              "ImageNet-pretrained ResNet-18 weights: no installed package ships them; the row is a "
              "documented paper-profile option (README, Paper zhan)",
              scores="per_triplet", unit="triplet_id", cluster="anchor_item"),
    ClaimSpec("zhan-2", "zhan", "hard & easy triplets beat hard triplets only",
              "triplet_accuracy", (Comparison("zhan-hardeasy-m4", "zhan-random-m4"),),
              scores="per_triplet", unit="triplet_id", cluster="anchor_item"),
    ClaimSpec("zhan-3", "zhan", "a larger margin helps up to a point (m=4 >= m=1)",
              "triplet_accuracy", (Comparison("zhan-random-m4", "zhan-random-m1"),),
              scores="per_triplet", unit="triplet_id", cluster="anchor_item"),
    ),
)
