"""API tokens for the local stack and for deployed stacks.

`STRATOFLOW_TOKENS` is a comma-separated list of `tenant:token` (scopes client and worker) or
`tenant:token:scope+scope` entries, e.g. `acme:tok-a,acme:tok-ro:client,globex:tok-g`. Tokens are stored through
the shared package (`stratoflow.tokens`), which keeps only their hashes, in the table named by `TABLE_NAME`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ALL_SCOPES = frozenset({"client", "worker"})
DEV_TOKEN = "dev:dev-token"
# The token the API samples under events/ carry (`authorization: Bearer tok-acme`).
SAMPLE_TOKEN = "acme:tok-acme"


@dataclass(frozen=True)
class TokenSpec:
    tenant: str
    token: str
    scopes: frozenset[str]

    def __str__(self) -> str:
        return f"{self.tenant}:{self.token}:{'+'.join(sorted(self.scopes))}"


def parse_token(entry: str) -> TokenSpec:
    parts = entry.strip().split(":")
    if len(parts) == 2:
        tenant, token = parts
        scopes = ALL_SCOPES
    elif len(parts) == 3:
        tenant, token, scope_text = parts
        scopes = frozenset(scope for scope in scope_text.split("+") if scope)
    else:
        raise ValueError(f"token entry {entry!r} is not tenant:token or tenant:token:scope+scope")
    if not tenant or not token:
        raise ValueError(f"token entry {entry!r} has an empty tenant or token")
    if not scopes or not scopes <= ALL_SCOPES:
        raise ValueError(f"token entry {entry!r}: scopes must be a non-empty subset of {sorted(ALL_SCOPES)}")
    return TokenSpec(tenant, token, scopes)


def parse_tokens(text: str) -> list[TokenSpec]:
    return [parse_token(entry) for entry in text.split(",") if entry.strip()]


def store_tokens(tokens: Iterable[TokenSpec]) -> None:
    """Store tokens in the table of the current environment (`TABLE_NAME`, `AWS_ENDPOINT_URL`, region)."""
    # The shared package is imported only when tokens are stored: stacks of test templates do without it.
    from stratoflow.services import runtime  # noqa: PLC0415
    from stratoflow.tokens import put_token  # noqa: PLC0415

    rt = runtime()
    for spec in tokens:
        put_token(rt, spec.tenant, spec.token, spec.scopes)


def revoke(token: str) -> bool:
    """Delete a token; False if it did not exist."""
    from stratoflow.services import runtime  # noqa: PLC0415
    from stratoflow.tokens import revoke_token  # noqa: PLC0415

    return bool(revoke_token(runtime(), token))
