"""The adoption study: the protocol inside Covasim, swept over adoption levels, seeds and
regions, in process or on a Dask cluster (spec §study). Needs ``pip install 'bluezone[study]'``.

Run it as ``python -m bluezone.study --people N --days D --adoption LIST --seeds S``."""

from .parameters import LAYERS, SOURCES, Layer, Parameters, describe
from .run import TIMINGS, BluezoneApp, Task, run

__all__ = ["BluezoneApp", "LAYERS", "Layer", "Parameters", "SOURCES", "TIMINGS", "Task",
           "describe", "run"]
