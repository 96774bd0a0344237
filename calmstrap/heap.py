"""Python's cyclic garbage collector, tuned once a long-running service has started.

The collector runs a young-generation pass after every 700 net allocations of container objects (tuples,
lists, dataclass instances), and every tenth of those passes an older one; each pass walks every tracked
object of its generations. One notification allocates dozens of them (the decoded measurement, beats,
queued archive rows), and a clinic's process holds the state of thousands of straps. Measured in
``benchmarks/cluster_capacity.py`` (2,000 straps x 3 minutes, two runs, BENCHMARKS.md, "Session 9"), the
collector took 3.2-3.3 µs of every notification with the default thresholds, 0.12-0.14 µs settled.

:func:`settle_heap`, called when the service's sessions are set up, collects once, then moves every object
alive at that point (modules, configuration, the sessions' long-lived state) out of the collector's sight
(:func:`gc.freeze`), and raises the young generation's threshold to :data:`YOUNG_THRESHOLD`. Cycles made
later are still found and freed: at most that many net allocations later.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
"""Net container allocations between young-generation collections (Python's default: 700). A cycle waits
at most this long to be freed; garbage cycles are rare on the hot path (the rows, beats and results made
per notification are freed by reference counting)."""


def settle_heap() -> None:
    """After start-up: one full collection, the survivors frozen, young collections made rarer."""
    gc.collect()
    gc.freeze()
    _gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, gen1, gen2)
