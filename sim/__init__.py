"""corridor-sim: a discrete-event simulator of the Middle Corridor container route.

Time inside the model is in **hours** (float) from the start of the run (1 January, 00:00).
Volumes are in **TEU**; an FEU counts 2 TEU everywhere.
"""

__version__ = "0.1.0"
