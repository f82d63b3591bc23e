"""The ``stratoflow`` command line: an operator's view of a Stratoflow stack, built on :class:`Client`."""

from __future__ import annotations

from collections.abc import Sequence

from ._app import EXIT_ABORTED, EXIT_API_ERROR, EXIT_UNREACHABLE, EXIT_USAGE, root
from ._batches import batch_group
from ._misc import event_group, token_group
from ._workflows import workflow_group

for _group in (workflow_group, batch_group, event_group, token_group):
    root.add_command(_group)

cli = root

__all__ = ["EXIT_ABORTED", "EXIT_API_ERROR", "EXIT_UNREACHABLE", "EXIT_USAGE", "cli", "main"]


def main(argv: Sequence[str] | None = None) -> None:
    """The console script's entry point."""
    root.main(args=list(argv) if argv is not None else None, prog_name="stratoflow")
