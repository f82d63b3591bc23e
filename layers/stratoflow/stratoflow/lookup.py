"""The resources a request names by id (an execution, a task, a batch): read one, or refuse with 404.

An id is looked up under the caller's tenant only, so another tenant's id is as missing as an unknown one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, TypeVar

from stratoflow.dal import keys
from stratoflow.dal.repository import Repository
from stratoflow.errors import NotFound
from stratoflow.records import Batch, Execution, Record, Task

Named = TypeVar("Named", Execution, Task, Batch)


class _Address(NamedTuple):
    pk: Callable[[str, str], str]  # (tenant, id) -> the record's partition key
    sk: str
    noun: str  # how a 404 names it


_ADDRESSES: dict[type[Record], _Address] = {
    Execution: _Address(keys.workflow_pk, keys.EXECUTION_SK, "workflow execution"),
    Task: _Address(keys.task_pk, keys.TASK_SK, "task"),
    Batch: _Address(keys.batch_pk, keys.BATCH_SK, "batch"),
}


def find(repo: Repository, record_type: type[Named], tenant: str, path_id: str) -> Named | None:
    """The tenant's record with this id, or None; an empty or over-long id names nothing we stored."""
    if not path_id or len(path_id) > keys.MAX_PATH_ID_LENGTH:
        return None
    address = _ADDRESSES[record_type]
    return repo.get(record_type, address.pk(tenant, path_id), address.sk)


def require(repo: Repository, record_type: type[Named], tenant: str, path_id: str) -> Named:
    """As `find`, but a missing record is NotFound."""
    found = find(repo, record_type, tenant, path_id)
    if found is None:
        raise NotFound(f"{_ADDRESSES[record_type].noun} {path_id} not found")
    return found
