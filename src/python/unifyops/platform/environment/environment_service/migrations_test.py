from unifyops.platform.environment.environment_service.main import MIGRATIONS
from unifyops.platform.environment.environment_service.models import Base
from unifyops_core.testing_db import check_migrations, fresh_database


async def test_migrations_are_sound() -> None:
    async with fresh_database() as database:
        await check_migrations(MIGRATIONS, Base.metadata, database)
