"""Count the SQL statements a block sends, COPY and streamed reads included.

Django's `connection.execute_wrapper` sees every statement that goes through
Django's cursor. The sync's bulk writes COPY and its plan reads `stream`
through the driver's own cursor, which Django does not see: while the block
runs, those two psycopg methods are wrapped too, for this thread's connection only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

from django.db import DEFAULT_DB_ALIAS, connections


@contextmanager
def statements(alias: str = DEFAULT_DB_ALIAS) -> Iterator[list[str]]:
    """The SQL of every statement sent on `alias` inside the block, in order."""
    db = connections[alias]
    sent: list[str] = []

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        sent.append(sql)
        return execute(sql, params, many, context)

    with ExitStack() as stack:
        stack.enter_context(db.execute_wrapper(wrapper))
        if db.vendor == "postgresql":
            import psycopg

            for name in ("copy", "stream"):
                stack.enter_context(
                    mock.patch.object(
                        psycopg.Cursor, name, _recorded(getattr(psycopg.Cursor, name), db, sent)
                    )
                )
        yield sent


def _recorded(method: Callable[..., Any], db: Any, sent: list[str]) -> Callable[..., Any]:
    def recorded(cursor: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
        if cursor.connection is db.connection:
            sent.append(str(statement))
        return method(cursor, statement, *args, **kwargs)

    return recorded
