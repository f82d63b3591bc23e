"""Bearer tokens resolved inside the functions: the table's answer cached per container, for a bounded time."""

from __future__ import annotations

import pytest
from stratoflow.errors import Unauthenticated
from stratoflow.tokens import Principal
from stratoflow_api import authentication
from stratoflow_api.authentication import TokenCache, authenticate, bearer_of

ACME = Principal("acme", frozenset({"client"}))


class _Table:
    """The token items: token → principal, counting the lookups."""

    def __init__(self) -> None:
        self.tokens: dict[str, Principal] = {"tok-a": ACME}
        self.lookups: list[str] = []

    def resolve(self, token: str) -> Principal | None:
        self.lookups.append(token)
        return self.tokens.get(token)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_known_token_is_looked_up_once_per_ttl_and_a_revoked_one_stops_working_when_it_ends() -> None:
    table, clock = _Table(), _Clock()
    cache = TokenCache(table.resolve, ttl_seconds=300, clock=clock)
    assert cache.principal("tok-a") == ACME
    del table.tokens["tok-a"]  # revoked
    clock.now += 299.9
    assert cache.principal("tok-a") == ACME  # still remembered, as API Gateway's authorizer cache would
    clock.now += 0.2
    assert cache.principal("tok-a") is None
    assert table.lookups == ["tok-a", "tok-a"]


def test_an_unknown_token_is_not_remembered_so_a_new_token_works_at_once() -> None:
    table = _Table()
    cache = TokenCache(table.resolve)
    assert cache.principal("tok-new") is None
    table.tokens["tok-new"] = ACME
    assert cache.principal("tok-new") == ACME
    assert table.lookups == ["tok-new", "tok-new"]


def test_the_cache_holds_at_most_its_bound_least_recently_used_dropped_first() -> None:
    table = _Table()
    table.tokens.update({"tok-b": ACME, "tok-c": ACME})
    cache = TokenCache(table.resolve, max_entries=2)
    for token in ("tok-a", "tok-b", "tok-a", "tok-c", "tok-a", "tok-b"):
        cache.principal(token)
    # tok-b was dropped for tok-c (tok-a was used since), so it is looked up again
    assert table.lookups == ["tok-a", "tok-b", "tok-c", "tok-b"]


def test_a_zero_ttl_looks_up_every_time() -> None:
    table = _Table()
    cache = TokenCache(table.resolve, ttl_seconds=0)
    cache.principal("tok-a")
    cache.principal("tok-a")
    assert table.lookups == ["tok-a", "tok-a"]


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ({"authorization": "Bearer tok-a"}, "tok-a"),
        ({"Authorization": "bearer  tok-a "}, "tok-a"),
        ({"authorization": "Basic dXNlcg=="}, None),
        ({"authorization": "Bearer"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_the_bearer_token_is_read_from_any_case_of_the_header(
    headers: dict[str, str] | None, token: str | None
) -> None:
    assert bearer_of(headers) == token


def test_authenticate_is_401_for_a_missing_or_unknown_token(monkeypatch: pytest.MonkeyPatch) -> None:
    table = _Table()
    monkeypatch.setattr(authentication, "TOKENS", TokenCache(table.resolve))
    assert authenticate({"authorization": "Bearer tok-a"}) == ACME
    for headers in ({}, {"authorization": "Bearer tok-unknown"}, {"authorization": "tok-a"}):
        with pytest.raises(Unauthenticated, match="missing, malformed or unknown bearer token"):
            authenticate(headers)
    assert table.lookups == ["tok-a", "tok-unknown"]
