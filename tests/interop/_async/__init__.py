"""Client tests against the real Flue server, written once (async); tests/interop/_sync is
generated from here by scripts/unasync.py."""
