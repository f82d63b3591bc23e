"""Every change the local stack makes to moto, installed and removed together, in one order.

The embedded endpoint and the tests' in-process moto use the same set, so what a race test measures in process is
what the endpoint serves (docs/local-stack.md, "What it patches"). Each patch counts its installs, so nested uses
are safe.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def moto_patched() -> Iterator[None]:
    """moto with atomic transactions, the partition query, the fast answers and update expressions, linear items.

    Every request must be served one at a time while it is installed (the partition query requires it)."""
    from stratoflow_local import (  # noqa: PLC0415  (moto is imported only when a stack starts)
        moto_expressions,
        moto_items,
        moto_queries,
        moto_responses,
        moto_transactions,
    )

    patches = (moto_transactions, moto_queries, moto_responses, moto_expressions, moto_items)
    installed = []
    try:
        for patch in patches:
            patch.install()
            installed.append(patch)
        yield
    finally:
        for patch in reversed(installed):
            patch.uninstall()
