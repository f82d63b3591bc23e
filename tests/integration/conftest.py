"""Fixtures for tests through the local stack.

- `local_stack`: one `LocalStack` per test session on the real template.yaml, with the tokens
  `acme:tok-acme` (client+worker), `acme:tok-acme-client` (client), `acme:tok-acme-worker` (worker) and
  `globex:tok-globex` (client+worker).
- `api`: an `Api` on that stack, authenticated as `tok-acme`; `api.as_token("tok-globex")` switches tenant,
  `api.as_token(None)` sends no token.
- `stack_factory` and `fixture_template`: stacks on a copy of the template whose functions are the small
  handlers of tests/fixtures/local_stack, for tests of the local stack's own machinery.

Each function runs in containers (processes) of its own, but moto's backends are process-global (a stack resets
them when it starts) and a stack sets this process's environment for the shared layer used in tests, so one stack
runs at a time: the tests that start their own stacks run first, then the tests that use `local_stack`, which stops
after the last of them, before any other test runs (see `pytest_collection_modifyitems`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from stratoflow_local.stack import LocalStack

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
FIXTURE_HANDLERS = REPO / "tests" / "fixtures" / "local_stack"
SESSION_TOKENS = "acme:tok-acme,acme:tok-acme-client:client,acme:tok-acme-worker:worker,globex:tok-globex"

# Function folder of the real template → the fixture handler that stands in for it.
FIXTURE_FOR_FOLDER = {
    "caller_api": "echo.py",
    "cancel_task": "echo.py",
    "console": "echo.py",
    "worker_api": "echo.py",
    "submit_workflow_commands": "echo.py",
    "propagate_child_cancel": "recorder.py",
    "outbox_dispatcher": "recorder.py",
    "fire_timer": "recorder.py",
    "sweeper": "recorder.py",
    "operator_api": "echo.py",
    "batch_runner": "recorder.py",
    "cancel_on_event": "recorder.py",
}
_OWN_STACK_FIXTURES = {"stack_factory", "fixture_stack"}


class _SessionStack:
    stack: LocalStack | None = None
    last_user: str | None = None
    environment: dict[str, str] = {}


def _uses(item: pytest.Item, names: set[str]) -> bool:
    return bool(names & set(getattr(item, "fixturenames", ())))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that start their own stacks, then those using `local_stack`, then the rest (no stack running)."""
    own = [item for item in items if _uses(item, _OWN_STACK_FIXTURES)]
    shared = [item for item in items if item not in own and _uses(item, {"local_stack"})]
    others = [item for item in items if item not in own and item not in shared]
    items[:] = own + shared + others
    _SessionStack.last_user = shared[-1].nodeid if shared else None
    # `pytest.mark.stack_environment(NAME="value")` on a module: its functions' settings on the session's stack.
    for item in shared:
        for marker in item.iter_markers("stack_environment"):
            for key, value in marker.kwargs.items():
                if _SessionStack.environment.setdefault(key, str(value)) != str(value):
                    raise pytest.UsageError(f"{item.nodeid}: {key} differs from another module's; run it on its own")


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the session's stack once its last user is done, so later tests see no stack (nor its moto state)."""
    if item.nodeid == _SessionStack.last_user and _SessionStack.stack is not None:
        _SessionStack.stack.stop()
        _SessionStack.stack = None


# ---------------------------------------------------------------- the real stack


class Api:
    """requests against a stack: `api.get("/v1/workflows")`, `api.post(path, json=...)`."""

    def __init__(self, base_url: str, token: str | None = "tok-acme", session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.session = session or requests.Session()

    def as_token(self, token: str | None) -> Api:
        return Api(self.base_url, token, self.session)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.base_url + path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The session's stack; its containers' output (the functions' logs) goes to `stack.container_log`."""
    log = tmp_path_factory.mktemp("containers") / "containers.log"
    with LocalStack(
        template_path=TEMPLATE,
        port=0,
        tokens=SESSION_TOKENS,
        container_log=log,
        environment=_SessionStack.environment,
    ) as stack:
        _SessionStack.stack = stack
        yield stack
        _SessionStack.stack = None


@pytest.fixture
def api(local_stack: LocalStack) -> Api:
    return Api(local_stack.url, "tok-acme")


# ---------------------------------------------------------------- stacks of fixture handlers


def make_fixture_template(directory: Path, edit: Callable[[str], str] | None = None) -> Path:
    """Copy template.yaml into `directory` (optionally edited) with fixture handlers as its functions."""
    directory.mkdir(parents=True, exist_ok=True)
    text = TEMPLATE.read_text(encoding="utf-8")
    template = directory / "template.yaml"
    template.write_text(edit(text) if edit else text, encoding="utf-8")
    for folder, handler in FIXTURE_FOR_FOLDER.items():
        target = directory / "functions" / folder
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FIXTURE_HANDLERS / handler, target / "app.py")
        shutil.copyfile(FIXTURE_HANDLERS / "journal.py", target / "journal.py")
    return template


@pytest.fixture
def fixture_template(tmp_path: Path) -> Path:
    return make_fixture_template(tmp_path / "app")


@pytest.fixture
def journal_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "journal.jsonl"
    monkeypatch.setenv("FIXTURE_JOURNAL", str(path))
    return path


StackFactory = Callable[..., Any]


@pytest.fixture
def stack_factory(journal_path: Path) -> Iterator[StackFactory]:
    """`with stack_factory(template, **options) as stack:` - a LocalStack of fixture handlers, no tokens, no sweeps,
    no container started before its function is first invoked."""

    @contextmanager
    def factory(template: Path, **options: Any) -> Iterator[LocalStack]:
        options.setdefault("tokens", [])
        options.setdefault("sweep_seconds", 0)
        # Containers start when first invoked, as in Lambda: a test uses a few of the template's functions, and
        # starting all of them would cost every stack a dozen interpreters.
        options.setdefault("prewarm", False)
        options.setdefault("environment", {"FIXTURE_JOURNAL": str(journal_path)})
        with LocalStack(template_path=template, **options) as stack:
            yield stack

    yield factory


def fixture_environment(journal: Path) -> dict[str, str]:
    """Environment for a subprocess running the local stack on a fixture template."""
    environment = {key: value for key, value in os.environ.items() if key != "AWS_ENDPOINT_URL"}
    environment["FIXTURE_JOURNAL"] = str(journal)
    environment["PYTHONPATH"] = os.pathsep.join([str(REPO / "layers" / "stratoflow"), str(REPO / "local")])
    return environment
