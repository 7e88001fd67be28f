"""Experiments over the model: replications, comparisons, sweeps, sensitivity, calibration,
stability checks, economics, and the executors that run them in parallel."""
