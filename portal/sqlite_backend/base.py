"""Django's SQLite backend, told the real limit on query parameters.

Django assumes SQLite's historical limit of 999 bound variables, which splits
a bulk insert of 2,000 contacts into dozens of statements. SQLite 3.32+
allows 32,766; asking the connection for its limit lets bulk writes use
batches as large as PostgreSQL's.
"""

from __future__ import annotations

import sqlite3

from django.db.backends.sqlite3 import base, features


class DatabaseFeatures(features.DatabaseFeatures):
    max_query_params = 999  # replaced per connection with the real limit


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures

    def get_new_connection(self, conn_params):
        conn = super().get_new_connection(conn_params)
        limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self.features.max_query_params = max(999, limit)
        return conn
