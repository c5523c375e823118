"""fashionbench: reproducible benchmark suite for fashion image retrieval."""
import warnings as _warnings

__version__ = "0.1.0"

# timm imports huggingface_hub, which imports tqdm.auto; inside a Jupyter kernel without ipywidgets
# that import warns "IProgress not found" in every stage notebook. fashionbench draws text bars
# (fashionbench.progress), so the hint about widget bars does not apply: silence that one message.
_warnings.filterwarnings("ignore", message="IProgress not found")
