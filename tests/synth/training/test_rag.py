"""Open-book QA beside closed-book QA: the topic's passages retrieved for each evaluation
question (papers.search.search_passages), scored for the base and the trained model, and
shown side by side on the training run page."""

from __future__ import annotations

import pytest

from papers.ask.passages import update_passages
from papers.models import Paper, PaperText
from synth import training
from synth.models import EvalQuestion
from synth.training.rag import with_passages
from synth.training.runner import run_training

pytestmark = pytest.mark.django_db

OUTSIDER = "The EntiGraph lab is in Elsewhere City, says a paper outside the topic."


@pytest.fixture
def topic_passages(finished_synthesis, questions):
    outsider = Paper.objects.create(title="Not in the topic")
    PaperText.objects.create(paper=outsider, lang="en", kind="abstract", body=OUTSIDER)
    for paper in Paper.objects.all():
        update_passages(paper)
    for q in questions:
        EvalQuestion.objects.create(topic=finished_synthesis.topic, question=q.question, options=list(q.options), answer=q.answer)
    return finished_synthesis


def test_each_question_gets_passages_of_the_topics_papers_only(topic_passages, questions):
    open_book = with_passages(topic_passages.topic, questions)
    assert [q.question for q in open_book] == [q.question for q in questions]
    assert all(q.context and "EntiGraph" in q.context for q in open_book)
    assert not any("Elsewhere City" in q.context for q in open_book)
    bodies = PaperText.objects.filter(paper__in=topic_passages.topic.papers.all()).values_list("body", flat=True)
    topic_text = " ".join(" ".join(bodies).split())  # passages keep the words, one space between them
    assert all(chunk in topic_text for q in open_book for chunk in q.context.split("\n\n"))


def test_a_run_is_evaluated_closed_and_open_book_and_the_page_shows_both(topic_passages, cpt_settings,
                                                                         fast_hyperparameters, staff):
    run = training.start_training(synthesis_runs=[topic_passages], step_limit=12, **fast_hyperparameters)
    assert run_training(run.pk) == "done"
    run.refresh_from_db()
    for metrics in (run.metrics_before, run.metrics_after):
        assert metrics["qa_n"] == metrics["rag_qa_n"] == 4
        assert 0.0 <= metrics["rag_qa_accuracy"] <= 1.0
    html = staff.get(f"/lab/training/{run.pk}/").content.decode()
    assert 'id="metric-qa_accuracy"' in html and 'id="metric-rag_qa_accuracy"' in html
    assert "open-book QA accuracy (RAG" in html
    # The headline table: the base model and this run, closed-book and open-book, side by side.
    table = html[html.index('id="topic-comparison"'):]
    table = table[:table.index("</table>")]
    assert "<th>base model</th>" in table and f"CPT #{run.pk} on Extractive (baseline, no LLM)" in table
    assert table.count('<td class="num">') == 4 and '<td class="num">-</td>' not in table


def test_without_passages_the_open_book_rows_stay_empty(finished_synthesis, cpt_settings, fast_hyperparameters, questions):
    for q in questions:
        EvalQuestion.objects.create(topic=finished_synthesis.topic, question=q.question, options=list(q.options), answer=q.answer)
    run = training.start_training(synthesis_runs=[finished_synthesis], step_limit=4, **fast_hyperparameters)
    run_training(run.pk)
    run.refresh_from_db()
    assert run.metrics_after["rag_qa_n"] == 0 and run.metrics_after["rag_qa_accuracy"] is None
