"""Paper ``ji``: its quoted tables and claims (one unit: see ``papers/ji/README.md``)."""

from __future__ import annotations

from fashionbench.papers.base import ClaimSpec, Comparison, Paper, PaperTable, TableRow

PAPER = Paper(
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
     PaperTable("Table 3 (excerpt)", "single retrieval models by global descriptor, Acc@10 with ground-truth "
                "boxes, DeepFashion2 validation set", {"Acc@10": "top10"},
                (TableRow("m4: GeM (extra data)", {"Acc@10": 0.879}, None,
                          "GeM-only single not run in the default profile (time budget)"),
                 TableRow("m11: GeM+MAC descriptors on m4", {"Acc@10": 0.870}, "ji-single-gem-mac"),
                 TableRow("m17: GeM+SPoC descriptors on m4", {"Acc@10": 0.870}, "ji-single-gem-spoc"))),
     PaperTable("Table 6", "single baseline model vs concatenation of several models' L2-normalised "
                "features (Acc@10, WBF5 boxes, DeepFashion2 validation set; test: 0.840060 -> 0.854168)",
                {"Acc@10": "top10"},
                (TableRow("m4 (baseline single model)", {"Acc@10": 0.869435}, "ji-single-*"),
                 TableRow("m1-16 (concatenated ensemble)", {"Acc@10": 0.888341}, "ji-concat"))),
     PaperTable("Table 7", "k-reciprocal re-ranking (m4, WBF5 boxes, DeepFashion2 validation set)",
                {"Acc@1": "top1", "Acc@10": "top10"},
                (TableRow("WBF5 (590k boxes), NN", {"Acc@1": 0.668740, "Acc@10": 0.869435}, None,
                          "box-count reduction by WBF has no analogue here (one given box per image)"),
                 TableRow("WBF5 (126k boxes), NN", {"Acc@1": 0.650885, "Acc@10": 0.853761}, "ji-single-gem-mac"),
                 TableRow("WBF5 (126k boxes), NN + re-ranking", {"Acc@1": 0.661954, "Acc@10": 0.858124},
                          "ji-kreciprocal")))),
    notes="Our rows: ji-single-* are EfficientNet-Lite0 CGD models from ImageNet (GeM+MAC, GeM+SPoC; paper: "
          "ResNet152-D) trained with softmax + center + triplet + multi-similarity; ji-concat concatenates them "
          "(the paper concatenates up to 16 models); the Table 7 rows compare the single model ji-single-gem-mac "
          "with and without k-reciprocal re-ranking (the paper: m4 alone), k1 = 6, k2 = 3 (each item has 2-5 "
          "gallery images here). "
          "PCA whitening, QE and DBA have no numbers in the paper (section 3.4 describes them in words): "
          "see the post-processing ablation below. 'Acc@k' is the top-k hit rate (metrics `top1`, `top10`).",
    claims=(
    ClaimSpec("ji-1", "ji", "fusing more detectors with WBF raises AP50",
              "ap50", (), "metrics/detect.json from the detect stage (AP50 of WBF over 1..n >= 2 detectors)",
              note="each added detector tested (WBF_k vs WBF_k-1) in the order of `detectors:` (yolov8n, yolo11n, "
                   "yolo26n), nano YOLOs from scratch at 64 px (paper: 5 large detectors on DeepFashion2)"),
    ClaimSpec("ji-2", "ji", "concatenating several models' features beats the single best model (Acc@10)",
              "top10", (Comparison("ji-concat", "ji-single-*"),),
              note="2 models concatenated (paper: up to 16); EfficientNet-Lite0 (ImageNet) at 64 px"),
    ClaimSpec("ji-3", "ji", "PCA whitening and query expansion do not help; DBA is about neutral",
              "top10", (Comparison("ji-pcaw", "ji-concat", "not_gt", margin=0.01),
                        Comparison("ji-qe", "ji-concat", "not_gt", margin=0.01),
                        Comparison("ji-dba", "ji-concat", "neutral", margin=0.01)),
              note="'does not help' holds when the Bonferroni CI of the gain stays under +0.01 Acc@10 (one point); "
                   "'about neutral' when it lies within +/-0.01"),
    ClaimSpec("ji-4", "ji", "k-reciprocal re-ranking raises Acc@10 a little",
              "top10", (Comparison("ji-kreciprocal", "ji-single-gem-mac"),),
              note="on the single model (as the paper's m4); k1 = 6, k2 = 3, lambda 0.3 set from the gallery's "
                   "2-5 images per item, not tuned on validation items"),
    ),
)
