"""A Celery task round trip through the real Redis broker and a real worker process."""

from papers.models import Paper
from papers.tasks import import_seed_file


def test_import_task_runs_on_a_worker_through_redis(celery_worker_process, seed_path):
    result = import_seed_file.delay(str(seed_path("000")))
    line = result.get(timeout=120)
    assert line == f"{seed_path('000').name}: paper_notes, 2 new, 0 updated"
    assert set(Paper.objects.values_list("title", flat=True)) == {
        "Synthetic continued pretraining", "LIME-M: Less Is More for Evaluation of MLLMs",
    }


def test_redelivered_import_changes_nothing(celery_worker_process, seed_path):
    first = import_seed_file.delay(str(seed_path("000"))).get(timeout=120)
    second = import_seed_file.delay(str(seed_path("000"))).get(timeout=120)
    assert first.endswith("2 new, 0 updated") and second.endswith("unchanged (paper_notes)")
    assert Paper.objects.count() == 2
