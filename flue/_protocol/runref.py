"""What the client accepts wherever it takes a run id.

A run id is a string; anything with a ``run_id: str`` attribute stands for its run too: the
`InvokeResult` of ``workflows.invoke()``, the `RunHandle` of ``flue.testing``'s
``create_run()``, a `RunRecord`. `run_id_of` turns either into the checked id.
"""

from __future__ import annotations

from typing import Protocol

from flue._protocol.params import check_run_id
from flue.errors import InvalidArgumentError

__all__ = ["RunRef", "run_id_of"]


class RunRef(Protocol):
    """Anything that names a run by its ``run_id`` (``invoke()``'s result, a `RunHandle`)."""

    @property
    def run_id(self) -> str:
        """The run's id."""
        ...


def run_id_of(run: str | RunRef) -> str:
    """The run id of `run`: the string itself, or its ``run_id`` attribute; checked."""
    if isinstance(run, str):
        return check_run_id(run)
    run_id = getattr(run, "run_id", None)
    if isinstance(run_id, str):
        return check_run_id(run_id)
    raise InvalidArgumentError(
        f"run_id must be a run id string or an object with a run_id string (the result of "
        f"workflows.invoke(), a flue.testing RunHandle), got {type(run).__name__}"
    )
