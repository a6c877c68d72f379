from pathlib import Path

from celery import shared_task

from papers.ingest import seeds


@shared_task(acks_late=True)
def import_seed_file(path: str) -> str:
    """Import one seed file (idempotent, so a redelivery is harmless); returns the report line."""
    return seeds.import_file(Path(path)).line()
