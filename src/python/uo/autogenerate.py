"""The child process of `uo new migration` (uo.new_migration): run with the repository's
``src/python`` on the path, it prints one JSON line: the heads, and the upgrade and downgrade
bodies Alembic renders (``null`` when the models match the migrated schema)."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from alembic.autogenerate import produce_migrations, render_python_code
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from unifyops_core import migrations
from unifyops_core.testing_db import create_test_database, drop_test_database


def _render(connection: Connection, metadata: MetaData) -> dict[str, Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "target_metadata": metadata}
    )
    script = produce_migrations(context, metadata)
    if script.upgrade_ops is None or script.upgrade_ops.is_empty():
        return {"upgrade": None, "downgrade": None}
    assert script.downgrade_ops is not None
    return {
        "upgrade": render_python_code(script.upgrade_ops).rstrip(),
        "downgrade": render_python_code(script.downgrade_ops).rstrip(),
    }


async def autogenerate(package: str, folder: Path) -> dict[str, Any]:
    metadata: MetaData = importlib.import_module(f"{package}.models").Base.metadata
    database = await create_test_database()
    try:
        url = database.url()
        await asyncio.to_thread(migrations.upgrade, folder, url)
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                rendered = await connection.run_sync(_render, metadata)
        finally:
            await engine.dispose()
    finally:
        await drop_test_database(database)
    return {"heads": migrations.heads(folder), **rendered}


def main(argv: list[str]) -> int:
    package, folder = argv
    print(json.dumps(asyncio.run(autogenerate(package, Path(folder)))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
