"""Paper ``shang``: its quoted tables and claims (one unit: see ``papers/shang/README.md``)."""

from __future__ import annotations

from fashionbench.papers.base import ClaimSpec, Comparison, Paper, PaperTable, TableRow

_STAND_IN = ("stand-in: EfficientNet-Lite0 (ImageNet) at 64 px, final layers 64-512 (1/8 of the paper's), 4 "
             "epochs, 1 expansion crop + the original (paper: ResNet, 5 crops)")

PAPER = Paper(
    "shang", "Fashion Product Search Based on Multi-model Fusion and Re-rank",
    "JD-style shop/consumer data, 3 categories (bags, clothes, shoes), 150k+ gallery", "mAP",
    (PaperTable("Table I", "mAP of the single best model, the distance fusion of four models, and fusion + top-1 re-rank",
                {"mAP": "mAP"},
                (TableRow("Original (best single model)", {"mAP": 0.3544}, "shang-single-*"),
                 TableRow("Fusion", {"mAP": 0.4176}, "shang-fusion"),
                 TableRow("Fusion + Re-rank", {"mAP": 0.5375}, "shang-fusion-rerank"))),),
    notes="Our rows: `shang-<category>-<size>` are one AM-Softmax model per category (clothes, shoes, bags) and "
          "final-layer size, trained on the expanded (eqs. 2-4) union crops (eq. 1) of that category; "
          "`shang-classifier` routes every query and gallery image to a category (section III.A); "
          "`shang-single-<size>` searches with one size (the paper's 'Original' = the best of them, an "
          "interpretation: the paper only says 'no optimization strategy'); `shang-fusion` averages the four "
          "sizes' distances (eq. 4); `shang-fusion-rerank` adds the top-1 re-rank; `shang-fusion-oracle` routes "
          "by the true categories (an ORACLE row, for the cost of routing errors). The paper trains 512/1024/2048/"
          "4096-d final layers on a ResNet (classifier: ResNet-50) with 5 expansion crops per image, from ImageNet; "
          "the default profile stands in EfficientNet-Lite0 from ImageNet (the ImageNet weights available offline) "
          "at 64 px, sizes 64/128/256/512 (1/8 of the row names' sizes), 4 epochs and 1 expansion crop plus the "
          "original per image (CPU budget); the paper profile holds the paper's settings (docs/papers/shang.md).",
    claims=(
    ClaimSpec("shang-1", "shang", "distance fusion of the four models beats the best single model",
              "AP", (Comparison("shang-fusion", "shang-single-*"),),
              rests_on=("shang-clothes-*", "shang-shoes-*", "shang-bags-*"),
              note=_STAND_IN),
    ClaimSpec("shang-2", "shang", "the top-1 re-rank beats fusion alone",
              "AP", (Comparison("shang-fusion-rerank", "shang-fusion"),),
              rests_on=("shang-clothes-*", "shang-shoes-*", "shang-bags-*"),
              note=_STAND_IN),
    ClaimSpec("shang-3", "shang", "the union crop box beats the given box alone",
              "AP", (Comparison("baseline-union", "baseline"),), "the detect stage",
              note="arms: the baseline trained and tested on union crops vs trained and tested on given boxes "
                   "(not shang's AM-Softmax models); the union covers the given box and every detected box "
                   "scored >= crop_conf (eq. 1)"),
    ),
)
