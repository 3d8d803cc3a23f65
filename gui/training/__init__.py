"""Training in the window: the worker-process controller, the run panel, live plots, results, the
runs list and try-it."""
