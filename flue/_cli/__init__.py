"""The `flue` command line (console script `flue`, also `python -m flue`)."""
