"""One training run: its configuration (`config`), loss and metrics, callbacks, precision,
fine-tuning, run.json and curves, and `train` (`loop`) that composes them.
"""
