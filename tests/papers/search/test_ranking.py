"""Ranking of the embedded seed corpus for Korean, Chinese and English queries."""

import pytest
from django.utils import translation

from papers.models import Paper
from papers.search import related_papers, search_papers

SCP = "Synthetic continued pretraining"
CRAG = "2401.15884"
NOISE = "2401.14887"


def titles(results) -> list[str]:
    return [hit.paper.title for hit in results]


def arxiv_ids(results) -> list[str]:
    return [hit.paper.arxiv_id for hit in results]


class TestRanking:
    def test_english_query_finds_synthetic_continued_pretraining_first(self, search_corpus):
        assert titles(search_papers(q="synthetic continued pretraining", k=5))[0] == SCP

    def test_korean_query_finds_synthetic_continued_pretraining(self, search_corpus):
        # Only the paper's Korean blog commentary is in Korean; its texts are English.
        assert SCP in titles(search_papers(q="합성 데이터로 지속 사전학습", k=3))

    def test_chinese_query_finds_the_rag_papers(self, search_corpus):
        # No seed paper has a Chinese text: this is meaning across languages.
        results = search_papers(q="检索增强生成", k=5)
        assert arxiv_ids(results)[0] == CRAG
        assert NOISE in arxiv_ids(results)

    def test_korean_rag_query_puts_both_rag_papers_on_top(self, search_corpus):
        assert set(arxiv_ids(search_papers(q="검색 증강 생성", k=2))) == {CRAG, NOISE}

    def test_chinese_query_about_the_essay_finds_its_paper(self, search_corpus):
        assert titles(search_papers(q="合成数据", k=1)) == [SCP]

    @pytest.mark.parametrize("q, arxiv_id", [
        ("sparse mixture of experts", "2401.15947"),
        ("수학적 추론", "2402.00157"),
        ("모델 압축", "2401.15347"),
        ("hallucination in vision-language models", "2402.00253"),
    ])
    def test_topic_queries_rank_the_matching_paper_first(self, search_corpus, q, arxiv_id):
        assert arxiv_ids(search_papers(q=q, k=3))[0] == arxiv_id

    def test_k_bounds_the_number_of_results(self, search_corpus):
        assert len(search_papers(q="language models", k=3)) == 3
        assert len(search_papers(q="language models", k=50)) == Paper.objects.count()

    def test_scores_fall_and_both_kinds_of_match_are_named(self, search_corpus):
        results = search_papers(q="corrective retrieval augmented generation", k=5)
        scores = [hit.score for hit in results]
        assert scores == sorted(scores, reverse=True)
        assert results.hits[0].matched_by == ("meaning", "words")


class TestWhatAHitShows:
    def test_title_in_the_readers_language(self, search_corpus):
        ko = search_papers(q="corrective retrieval augmented generation", k=1, reader_lang="ko").hits[0]
        en = search_papers(q="corrective retrieval augmented generation", k=1, reader_lang="en").hits[0]
        assert (ko.title, ko.title_lang) == ("CRAG: 자가 수정 검색 증강 생성", "ko")
        assert (en.title, en.title_lang) == ("Corrective Retrieval Augmented Generation", "en")

    def test_a_title_missing_in_the_readers_language_falls_back_to_english(self, search_corpus):
        hit = search_papers(q="synthetic continued pretraining", k=1, reader_lang="zh").hits[0]
        assert (hit.title, hit.title_lang) == (SCP, "en")

    def test_snippet_marks_the_matched_words(self, search_corpus):
        hit = search_papers(q="mixture of experts", k=1).hits[0]
        assert "<mark>mixture</mark>" in hit.snippet.lower() and "<mark>experts</mark>" in hit.snippet.lower()

    def test_korean_snippet_marks_words_with_particles_attached(self, search_corpus):
        hit = next(h for h in search_papers(q="합성 데이터로 지속 사전학습", k=5) if h.paper.title == SCP)
        assert hit.snippet_lang == "ko"
        assert "<mark>합성</mark>" in hit.snippet and "<mark>데이터</mark>" in hit.snippet  # 데이터를 in the text

    def test_chinese_snippet_comes_from_the_chinese_essay(self, search_corpus):
        hit = search_papers(q="合成数据", k=1).hits[0]
        assert hit.snippet_lang == "zh" and "<mark>合成数据</mark>" in hit.snippet

    def test_snippet_escapes_markup_from_the_text(self, search_corpus):
        paper = Paper.objects.get(arxiv_id=CRAG)
        text = paper.texts.get(lang="en", kind="summary")
        text.body = 'Corrective <script>alert("x")</script> retrieval <b onmouseover="x()">bold</b>'
        text.save()
        hit = search_papers(q="corrective retrieval", k=1, lang="en").hits[0]
        assert "<script" not in hit.snippet and "<b " not in hit.snippet
        assert "&lt;script&gt;" in hit.snippet and "<mark>Corrective</mark>" in hit.snippet

    def test_tags_and_date_are_shown(self, search_corpus):
        hit = search_papers(q="LIME-M less is more evaluation of MLLMs", k=1).hits[0]
        assert [t.slug for t in hit.tags] == ["benchmark", "multimodal"]
        assert hit.date.isoformat() == "2024-09-12"  # no arXiv date: the blog note's
        crag = search_papers(q="corrective retrieval augmented generation", k=1).hits[0]
        assert crag.date.isoformat() == "2024-01-29"  # the week of its issue


class TestRelatedPapers:
    def test_nearest_neighbours_exclude_the_paper_itself(self, search_corpus):
        crag = Paper.objects.get(arxiv_id=CRAG)
        related = related_papers(crag, k=3)
        assert len(related) == 3 and crag not in [r.paper for r in related]
        assert related[0].paper.arxiv_id == NOISE  # the other RAG paper
        assert related[0].similarity >= related[-1].similarity

    def test_a_paper_without_vectors_has_none(self, search_corpus):
        assert related_papers(Paper.objects.create(title="Not embedded yet")) == []

    def test_partial_renders_links_in_the_readers_language(self, search_corpus, client):
        from django.template.loader import render_to_string

        crag = Paper.objects.get(arxiv_id=CRAG)
        with translation.override("ko"):
            html = render_to_string("papers/_related.html", {"related": related_papers(crag, k=2, reader_lang="ko")})
        assert "노이즈의 힘" in html and f"/papers/{Paper.objects.get(arxiv_id=NOISE).pk}/" in html

