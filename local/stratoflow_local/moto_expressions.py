"""moto's `UpdateItem` expression machinery made cheaper without changing an outcome.

An `UpdateItem` held the embedded endpoint's lock about 15 ms, several times a `GetItem`, although the items are
small: moto parses the update expression twice (once in the handler, once in the backend) and runs ten validators
over the tree, each a depth-first walk that rebuilds the validator's node-type tuple at every node, and one of them
(`ActionCountValidator`) counts the clauses under every one of the ~50 nodes of a ten-action expression. Three
changes, each exact:

- `cached_make`: `UpdateExpressionParser.make` remembers the tree of the last few hundred expression strings (a
  claim's expression is the same text every time, only its values differ). The tree is only read by moto's callers:
  the validator deep-copies it before changing anything. A parse that fails is not remembered, so it fails again
  with the same error.
- `fast_traverse`: `DepthFirstTraverser.traverse` with the node types and the processing functions looked up once
  per walk instead of once per node; the walk itself (order, replacement of processed nodes, the child hook) is
  moto's.
- `counting_traverse`: `ActionCountValidator` counts the `SET`, `REMOVE` and `ADD` clauses once, from the root, which
  reaches every clause any node below it reaches (every clause is an `UpdateExpression`, and the clauses are found
  through `Expression` nodes). If no count exceeds one, no node's does, and moto's walk would have changed nothing;
  otherwise moto's own walk runs and raises its own error.

`tests/unit/test_moto_expressions.py` runs valid and invalid updates with and without these and compares the items
and errors. `moto_pin.check_moto` pins the source of the replaced methods. `install()` / `uninstall()` are
reference-counted and swap the methods for the whole process, like the other adapters.
"""

from __future__ import annotations

import importlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from stratoflow_local.moto_pin import Patch

# moto's parsing modules are untyped (`# type: ignore` at their top): imported as modules, their classes are `Any`.
_ast_nodes: Any = importlib.import_module("moto.dynamodb.parsing.ast_nodes")
_expressions: Any = importlib.import_module("moto.dynamodb.parsing.expressions")
_validators: Any = importlib.import_module("moto.dynamodb.parsing.validators")
DepthFirstTraverser = _ast_nodes.DepthFirstTraverser
Node = _ast_nodes.Node
_COUNTED_CLAUSES = (
    _ast_nodes.UpdateExpressionAddClause,
    _ast_nodes.UpdateExpressionRemoveClause,
    _ast_nodes.UpdateExpressionSetClause,
)
UpdateExpressionParser = _expressions.UpdateExpressionParser
ActionCountValidator = _validators.ActionCountValidator

_original_make: Callable[..., Any] = UpdateExpressionParser.make.__func__
_original_traverse: Callable[..., Any] = DepthFirstTraverser.traverse
_original_count: Callable[..., Any] = ActionCountValidator.traverse

CACHED_EXPRESSIONS = 512
_trees: OrderedDict[str, Any] = OrderedDict()
_trees_lock = threading.Lock()


def cached_make(cls: type, expression_str: str) -> Any:
    """moto's `UpdateExpressionParser.make`, the tree of a recently parsed string reused (it is only read)."""
    if cls is not UpdateExpressionParser or not isinstance(expression_str, str):
        return _original_make(cls, expression_str)
    with _trees_lock:
        tree = _trees.get(expression_str)
        if tree is not None:
            _trees.move_to_end(expression_str)
            return tree
    tree = _original_make(cls, expression_str)
    with _trees_lock:
        _trees[expression_str] = tree
        while len(_trees) > CACHED_EXPRESSIONS:
            _trees.popitem(last=False)
    return tree


def fast_traverse(self: Any, node: Any) -> Any:
    """moto's depth-first walk (`traverse_node_recursively`), with the processing map read once per walk."""
    processing = tuple(self._processing_map().items())
    kinds = tuple(kind for kind, _ in processing)
    pre_processing_of_child = self.pre_processing_of_child

    def visit(node: Any, child_id: int = -1) -> Any:
        if isinstance(node, Node):
            parent_node = node.parent
            if node.children is not None:
                for i, child_node in enumerate(node.children):
                    pre_processing_of_child(node, i)
                    visit(child_node, i)
            if isinstance(node, kinds):
                for kind, processor in processing:  # moto's `process`: the first matching type
                    if isinstance(node, kind):
                        node = processor(node)
                        break
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
        return node

    return visit(node)


def counting_traverse(self: Any, node: Any) -> Any:
    """`ActionCountValidator`: the clauses counted once from the root; moto's walk only when one count exceeds one."""
    if isinstance(node, Node) and all(len(node.find_clauses([clause])) <= 1 for clause in _COUNTED_CLAUSES):
        return node
    return _original_count(self, node)


def _apply() -> None:
    UpdateExpressionParser.make = classmethod(cached_make)
    DepthFirstTraverser.traverse = fast_traverse
    ActionCountValidator.traverse = counting_traverse


def _restore() -> None:
    UpdateExpressionParser.make = classmethod(_original_make)
    DepthFirstTraverser.traverse = _original_traverse
    del ActionCountValidator.traverse
    with _trees_lock:
        _trees.clear()


_patch = Patch("the update expression fast path", _apply, _restore)
install = _patch.install
uninstall = _patch.uninstall


def is_installed() -> bool:
    return DepthFirstTraverser.traverse is fast_traverse
