"""Client tests against the real Flue server, written once (async); tests/interop/_sync holds
the twins that scripts/unasync.py generates."""
