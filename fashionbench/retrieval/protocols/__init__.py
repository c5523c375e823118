"""Evaluation protocols: what a plain manifest + ranking does not say by itself.

- :mod:`fashionbench.retrieval.protocols.retrieval`: each dataset's protocol (gallery scope, per-category
  breakdown) as the evaluate/fuse/rerank stages apply it.
- :mod:`fashionbench.retrieval.protocols.deepfashion2`: the DeepFashion2 Track-2 retrieval score
  (detections assigned to ground-truth query items, box-level hits in the gallery images).
"""
