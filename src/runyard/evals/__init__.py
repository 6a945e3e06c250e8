"""The evaluation engine: datasets, evaluators, and an executor that scores items on the worker pool."""
