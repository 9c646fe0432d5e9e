"""Alembic environment: the URL comes from `bot.migrate.alembic_config`, the metadata from `bot.models`."""

from alembic import context

from bot.db import Base, make_engine
from bot.models import directory_models  # noqa: F401  (registers every table)

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
