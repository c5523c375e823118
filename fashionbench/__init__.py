"""fashionbench: reproducible benchmark suite for fashion image retrieval."""
__version__ = "0.1.0"
