"""Official evaluation protocols that cannot be expressed as a plain manifest + ranking.

- :mod:`fashionbench.protocols.deepfashion2`: the DeepFashion2 Track-2 retrieval score
  (detections assigned to ground-truth query items, box-level hits in the gallery images).
"""
