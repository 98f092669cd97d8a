"""Development tools of the repository (not part of the ``flue-client`` wheel).

Imported by the tests, the benchmarks and the noxfile alike; run them from the repository root
(``python -m tools.flue_servers --provision-only``).
"""
