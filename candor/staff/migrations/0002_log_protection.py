"""The access log and its checkpoints are append-only on PostgreSQL: a trigger refuses every UPDATE and
DELETE of their rows, whoever sends it (the ORM or raw SQL). TRUNCATE is a statement, not a row
change: the test suite's flush and `pg_restore --clean` (which drops and re-creates the tables, with
this trigger) still work. On SQLite nothing is installed."""

from __future__ import annotations

from typing import Any

from django.db import migrations

TABLES = ("staff_accessentry", "staff_checkpoint")

FUNCTION = """
CREATE OR REPLACE FUNCTION candor_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'candor: % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def install(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)  # its % are plpgsql's, not placeholders
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION candor_append_only()"
        )


def remove(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS candor_append_only()")


class Migration(migrations.Migration):
    dependencies = [("staff", "0001_initial")]

    operations = [migrations.RunPython(install, remove, elidable=False)]
