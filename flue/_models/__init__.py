"""Implementation of `flue.models`; import the public names from there."""
