"""The servers the tests and benchmarks run against, outside the client package.

- :mod:`.releases`: the supported Flue releases of the interop app and where each lives;
- :mod:`.node` and :mod:`.provision`: Node, ``npm ci`` and the build of that app;
- :mod:`.server`: :class:`~tools.flue_servers.server.RealFlueServer`, the built app running;
- :mod:`.fakemodel`: the fake chat-completions server its agents call;
- :mod:`.nginx`: nginx in front of the real server, configured like a deployment;
- :mod:`.lifecycle`: the start/stop/``with`` base class all of them (and the tests' own proxies)
  share;
- ``python -m tools.flue_servers``: the command line (``--provision-only``, ``--serve``,
  ``--update-lock``).
"""
