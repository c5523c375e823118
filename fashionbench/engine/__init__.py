"""fashionbench.engine (see the layer list in fashionbench/__init__.py)."""
