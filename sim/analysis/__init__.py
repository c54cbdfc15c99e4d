"""Questions asked of batches: comparisons, sweeps, sensitivity and the story of one replication.

Everything here returns data (frames, dataclasses, text); figures are drawn by :mod:`sim.output`.
"""
