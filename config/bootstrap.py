"""Start the embedded services an entry point needs, before Django connects anywhere."""

import os


def ensure_services() -> None:
    postgres = not os.environ.get("DATABASE_URL")
    redis = not os.environ.get("REDIS_URL")
    if postgres or redis:
        from config import services

        services.keep_files_private()
        services.ensure_started(postgres=postgres, redis=redis)
