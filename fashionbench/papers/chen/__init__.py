"""Paper ``chen``: its quoted tables and claims (one unit: see ``papers/chen/README.md``)."""

from __future__ import annotations

from fashionbench.papers.base import ClaimSpec, Comparison, Paper, PaperTable, TableRow

PAPER = Paper(
    "chen", "Multi-Granularity Part Alignment Convolutional Network for Commodity Retrieval",
    "JD AI Fashion Challenge (clothes, bags, shoes; 154,294 gallery, 1,000 queries)", "mAP, mAP@10, rank-1",
    (PaperTable("Table 1", "clothes mAP (%) by partition set and backbone (ours: all queries, one model for "
                "the three categories; clothes queries only: 'Table 1, like for like' below)",
                {"mAP": "mAP"},
                (TableRow("Horizontal, ResNet50", {"mAP": 40.32}, "chen-horizontal"),
                 TableRow("Vertical, ResNet50", {"mAP": 40.32}, "chen-vertical"),
                 TableRow("Annular, ResNet50", {"mAP": 43.19}, "chen-annular"),
                 TableRow("All, DenseNet169", {"mAP": 48.47}, None, "backbone not run here"),
                 TableRow("All, ResNeXt101", {"mAP": 51.84}, None, "backbone not run here"),
                 TableRow("All, ResNet152", {"mAP": 53.22}, None, "backbone not run here"),
                 TableRow("All, ResNet101 (512)", {"mAP": 53.18}, None, "backbone not run here"),
                 TableRow("All, ResNet101 (256)", {"mAP": 54.76}, "chen-all")),
                percent=True),
     PaperTable("Final submission", "ensemble of ResNet101, ResNet152, ResNeXt101 and DenseNet169 (the paper "
                "prints rank-1 as 54.86 %)",
                {"rank-1": "top1", "mAP@10": "mAP@10"},
                (TableRow("ensemble of four backbones", {"rank-1": 0.5486, "mAP@10": 0.5886}, None,
                          "no ensemble here: see chen-all's rank-1 / mAP@10 below"),))),
    notes="Our rows (params.yaml `chen-*`): MGPA on EfficientNet-Lite0 from ImageNet (the ImageNet weights "
          "available offline), output stride 16 (last stage not strided), 64 px inputs: a 4x4 conv5 map, on which "
          "2 and 3 stripes and rings all exist (masks below). So that the claims compare partitions and nothing "
          "else, every row has the global branch (a single type = global + its 2- and 3-part branches, 6 parts "
          "x 256-d) and every row's feature has the same total size: `chen-all`'s 16 parts are 96-d each "
          "(1,536 in all; the paper: 16 x 256 on ResNet-101). 32 identities x 2 images per batch, Adam 5e-4, "
          "7 epochs with the x0.2 step after epoch 5 (paper: ResNet-50/101 at 384 px, 55-60 epochs, step at "
          "epoch 20; its printed Adam lr 0.06 is not usable for Adam: the paper profile uses 2e-4). The paper "
          "trains one model per category and Table 1 is clothes only; here one model covers the three "
          "categories and every query is scored.",
    claims=(
    ClaimSpec("chen-1", "chen", "annular partition beats horizontal and vertical partitions",
              "AP", (Comparison("chen-annular", "chen-horizontal"), Comparison("chen-annular", "chen-vertical")),
              note="stand-in: EfficientNet-Lite0 (ImageNet) at 64 px, 4x4 map, 7 epochs (paper: ResNet-50 at "
                   "384 px); each arm = global + that type's branches"),
    ClaimSpec("chen-2", "chen", "all seven branches together beat any single partition type",
              # each single type by name: the glob chen-[ahv]* also matched chen-all itself
              "AP", (Comparison("chen-all", "chen-annular"), Comparison("chen-all", "chen-horizontal"),
                     Comparison("chen-all", "chen-vertical")),
              note="arms of equal total size (1,536-d) with the global branch in both: all = 16 x 96, "
                   "singles = 6 x 256 (paper: 16 x 256 on ResNet-101 vs singles on ResNet-50)"),
    ),
)
