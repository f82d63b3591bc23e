"""In-process Lambda runtime: a pool of "containers" per function.

A handler module is not safe for concurrent invocations (a Powertools resolver holds the current event), exactly
like a Lambda execution environment. So each container is a separate import of the function's handler file under
a unique module name, and an invocation gets a free container, or a new one while the pool is below its bound.
Shared layer modules (`stratoflow`, Powertools, ...) are ordinary imports, loaded once per process.

Environment: every function's template environment is put into `os.environ` once, at start (the functions share
one process, so they share one environment; the template reader refuses a template whose functions disagree on a
variable). The only variable that differs, `POWERTOOLS_SERVICE_NAME`, is set while a container is imported, which
is when Powertools' Logger, Tracer and Metrics read it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from stratoflow_local.template import FunctionSpec, LocalTemplate

logger = logging.getLogger(__name__)

DEFAULT_MAX_CONTAINERS = 32
_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
# Module imports and os.environ changes are process-wide: one container imports at a time.
_IMPORT_LOCK = threading.RLock()
_container_ids = itertools.count(1)


class FunctionError(Exception):
    """The handler raised; `error_type` and `error_message` are what Lambda would report."""

    def __init__(self, function: str, error: BaseException) -> None:
        super().__init__(f"{function}: {type(error).__name__}: {error}")
        self.function = function
        self.error = error
        self.error_type = type(error).__name__
        self.error_message = str(error)


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools use."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_epoch_s: float

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline_epoch_s - time.time()) * 1000))


class _Container:
    def __init__(self, spec: FunctionSpec, handler: Callable[[Any, Any], Any], module_name: str) -> None:
        self.spec = spec
        self.handler = handler
        self.module_name = module_name
        self.cold = True


def _import_container(spec: FunctionSpec) -> _Container:
    handler_file = spec.handler_file
    if not handler_file.is_file():
        raise FileNotFoundError(f"{spec.logical_id}: handler file {handler_file} does not exist")
    module_name = f"_stratoflow_fn_{spec.logical_id}_{next(_container_ids)}"
    with _IMPORT_LOCK:
        for layer_dir in spec.layer_dirs:
            if str(layer_dir) not in sys.path:
                sys.path.append(str(layer_dir))
        previous = os.environ.get(_SERVICE_NAME)
        service_name = spec.environment.get(_SERVICE_NAME)
        if service_name is not None:
            os.environ[_SERVICE_NAME] = service_name
        try:
            module_spec = importlib.util.spec_from_file_location(module_name, handler_file)
            if module_spec is None or module_spec.loader is None:
                raise ImportError(f"cannot import {handler_file}")
            module: ModuleType = importlib.util.module_from_spec(module_spec)
            sys.modules[module_name] = module
            try:
                module_spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(module_name, None)
                raise
        finally:
            if previous is None:
                os.environ.pop(_SERVICE_NAME, None)
            else:
                os.environ[_SERVICE_NAME] = previous
    handler = getattr(module, spec.handler_attribute, None)
    if not callable(handler):
        raise ImportError(f"{spec.logical_id}: {handler_file} has no callable {spec.handler_attribute}")
    return _Container(spec, handler, module_name)


class FunctionPool:
    """Containers of one function: reuse a free one, create one when none is free (up to `max_containers`)."""

    def __init__(self, spec: FunctionSpec, max_containers: int = DEFAULT_MAX_CONTAINERS) -> None:
        self.spec = spec
        self._max = max_containers
        self._free: list[_Container] = []
        self._count = 0
        self._condition = threading.Condition()

    @property
    def size(self) -> int:
        with self._condition:
            return self._count

    @contextlib.contextmanager
    def container(self) -> Iterator[_Container]:
        container = self._acquire()
        try:
            yield container
        finally:
            container.cold = False
            with self._condition:
                self._free.append(container)
                self._condition.notify()

    def warm(self) -> None:
        """Import one container now, so that import errors show at start and the first request is fast."""
        with self.container():
            pass

    def _acquire(self) -> _Container:
        with self._condition:
            while not self._free and self._count >= self._max:
                self._condition.wait()
            if self._free:
                return self._free.pop()
            self._count += 1
        try:
            return _import_container(self.spec)
        except BaseException:
            with self._condition:
                self._count -= 1
                self._condition.notify()
            raise

    def close(self) -> None:
        with self._condition:
            for container in self._free:
                sys.modules.pop(container.module_name, None)
            self._free.clear()


class LambdaRuntime:
    """Invokes the template's functions in this process."""

    def __init__(self, template: LocalTemplate, max_containers: int = DEFAULT_MAX_CONTAINERS) -> None:
        self.template = template
        self._pools = {
            logical_id: FunctionPool(spec, max_containers) for logical_id, spec in template.functions.items()
        }

    def pool(self, logical_id: str) -> FunctionPool:
        try:
            return self._pools[logical_id]
        except KeyError:
            raise KeyError(f"no function {logical_id!r} in {self.template.path}") from None

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Invoke synchronously; raise `FunctionError` if the handler raises."""
        pool = self.pool(logical_id)
        spec = pool.spec
        with pool.container() as container:
            context = LambdaContext(
                function_name=logical_id,
                function_version="$LATEST",
                invoked_function_arn=spec.arn,
                memory_limit_in_mb=spec.memory_size,
                aws_request_id=str(uuid.uuid4()),
                log_group_name=f"/aws/lambda/{logical_id}",
                log_stream_name=f"local/{container.module_name}",
                deadline_epoch_s=time.time() + spec.timeout,
            )
            started = time.monotonic()
            try:
                return container.handler(event, context)
            except Exception as error:
                logger.info("function error", extra={"function": logical_id, "error": repr(error)})
                raise FunctionError(logical_id, error) from error
            finally:
                elapsed = time.monotonic() - started
                if elapsed > spec.timeout:
                    logger.warning(
                        "invocation exceeded the function's timeout",
                        extra={"function": logical_id, "seconds": round(elapsed, 3), "timeout": spec.timeout},
                    )

    def warm(self, logical_ids: Mapping[str, Any] | None = None) -> dict[str, BaseException]:
        """Import one container of each function; return the import errors by function."""
        errors: dict[str, BaseException] = {}
        for logical_id, pool in self._pools.items():
            if logical_ids is not None and logical_id not in logical_ids:
                continue
            try:
                pool.warm()
            except Exception as error:
                errors[logical_id] = error
        return errors

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
