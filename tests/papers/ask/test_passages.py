"""Texts cut into passages, stored and embedded; cut again when a text changes."""

from __future__ import annotations

import pytest

from papers import embeddings
from papers.ask.passages import PASSAGE_CHARS, split_passages, update_passages
from papers.models import Passage

pytestmark = pytest.mark.django_db


class TestSplit:
    def test_sentences_are_packed_and_never_cut_in_the_middle(self):
        body = " ".join(f"Sentence number {i} says something about synthetic data." for i in range(40))
        passages = split_passages(body)
        assert len(passages) > 1
        assert all(len(p) <= PASSAGE_CHARS for p in passages)
        assert all(p.endswith("data.") for p in passages)
        assert " ".join(passages) == body

    def test_chinese_and_korean_sentences_end_without_spaces(self):
        passages = split_passages("第一句。第二句！" * 100 + "\n\n한국어 문장이다. 두 번째 문장이다.", max_chars=60)
        assert all(p.endswith(("。", "！", ".")) for p in passages)
        assert passages[-1] == "한국어 문장이다. 두 번째 문장이다."

    def test_a_sentence_longer_than_a_passage_is_cut(self):
        assert [len(p) for p in split_passages("x" * 1300)] == [600, 600, 100]

    def test_empty_text_has_no_passages(self):
        assert split_passages("  \n\n ") == []


class TestUpdate:
    def test_summaries_abstracts_and_commentary_become_embedded_passages(self, ask_corpus):
        rows = Passage.objects.filter(paper=ask_corpus["entigraph"])
        assert {(p.lang, p.kind) for p in rows} == {("en", "abstract"), ("ko", "summary")}
        assert all(p.model == embeddings.model_name() and p.vector is not None for p in rows)
        collapse = Passage.objects.filter(paper=ask_corpus["collapse"])
        assert {p.kind for p in collapse} == {"abstract", "commentary"}

    def test_second_run_changes_nothing(self, ask_corpus):
        before = list(Passage.objects.order_by("pk").values_list("pk", "body"))
        report = update_passages(ask_corpus["entigraph"])
        assert (report.created, report.removed, report.embedded) == (0, 0, 0)
        assert list(Passage.objects.order_by("pk").values_list("pk", "body")) == before

    def test_a_changed_text_is_cut_again_and_the_others_keep_their_passages(self, ask_corpus):
        paper = ask_corpus["entigraph"]
        korean = set(paper.passages.filter(lang="ko").values_list("pk", flat=True))
        abstract = paper.texts.get(lang="en", kind="abstract")
        abstract.body = "A new abstract about entity graphs."
        abstract.save()
        report = update_passages(paper)
        assert (report.created, report.embedded) == (1, 1)
        assert list(paper.passages.filter(lang="en").values_list("body", flat=True)) == ["A new abstract about entity graphs."]
        assert set(paper.passages.filter(lang="ko").values_list("pk", flat=True)) == korean

    def test_a_deleted_text_loses_its_passages(self, ask_corpus):
        paper = ask_corpus["entigraph"]
        paper.texts.filter(lang="ko", kind="summary").delete()
        update_passages(paper)
        assert not paper.passages.filter(lang="ko").exists()

    def test_another_embeddings_model_re_embeds(self, ask_corpus, settings):
        paper = ask_corpus["rag"]
        Passage.objects.filter(paper=paper).update(model="an-older-model")
        assert update_passages(paper).embedded == paper.passages.count()
        assert set(paper.passages.values_list("model", flat=True)) == {embeddings.model_name()}


def test_papers_embedded_before_passages_existed_are_found_for_make_run(ask_corpus):
    from papers.ask.passages import papers_without_passages
    from papers.models import EnrichmentStep

    for paper in ask_corpus.values():
        EnrichmentStep.objects.create(paper=paper, step="embed", status=EnrichmentStep.Status.DONE)
    assert papers_without_passages() == []
    Passage.objects.filter(paper=ask_corpus["rag"]).delete()  # as a database from an older version has it
    assert papers_without_passages() == [ask_corpus["rag"].pk]
