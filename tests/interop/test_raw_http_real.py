"""The raw-HTTP contract tests of ``tests/testing`` run against the real Flue server.

They are written against a ``target`` fixture (``.url``, ``.token``, ``.kind``); here that
fixture is the real Flue server from ``conftest.py`` (beta.5 or beta.9), so the fake server and
the real one are held to the same tests.
"""

from __future__ import annotations

from tests.testing.test_raw_http import *  # noqa: F403
