"""PostgreSQL for the tests, as in production but for how a transactional test is undone.

After each transactional test (worker, browser and live-server tests) Django empties every
table. Its PostgreSQL backend does that with one TRUNCATE, which gives each of the ~60 tables,
their indexes and TOAST tables new files: 1 to 2.5 s of disk work per test on this machine,
where deleting the few rows a test leaves takes milliseconds. Content types and permissions
are what migrate made, and Django makes them again after each flush (0.2 s): they are kept.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base, operations

# Rows only migrations write, which flush's post_migrate signal would write again.
KEPT = frozenset({"django_content_type", "auth_permission"})


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(
        self,
        style: Any,
        tables: Any,
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        if reset_sequences or not tables:
            return list(
                super().sql_flush(
                    style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
                )
            )
        # Every foreign key Django creates is DEFERRABLE INITIALLY DEFERRED, and flush runs
        # these in one transaction, so the order of the tables does not matter
        # (tests/test_flush.py checks both).
        return [
            f"DELETE FROM {self.quote_name(table)};"  # noqa: S608 (table names from introspection, quoted)
            for table in sorted(tables)
            if table not in KEPT
        ]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
