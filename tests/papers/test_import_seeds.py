"""Importing the seed documents: exact parsing, idempotence, and what bad files get."""

import datetime as dt
import shutil

import pytest
from django.core.management import CommandError, call_command

from papers.ingest import seeds
from papers.languages import HANGUL
from papers.models import Commentary, Issue, Link, Origin, Paper, PaperText, SourceDocument, Tag

pytestmark = pytest.mark.django_db

DIGEST_IDS = [
    "2402.00838", "2401.13601", "2401.15884", "2402.00157", "2401.15347",
    "2401.15947", "2401.16380", "2401.14887", "2402.00253", "2401.15024",
]


def _has_hangul(text: str) -> bool:
    return bool(HANGUL.search(text))


class TestWeeklyDigest:
    def test_ten_papers_in_order_with_ids_and_the_sliceGPT_version(self, seed_path):
        doc = seeds.parse(seeds.read_text(seed_path("001")))
        assert [p.arxiv_id for p in doc.papers] == DIGEST_IDS
        assert [p.arxiv_version for p in doc.papers] == [None] * 9 + [1]

    def test_titles_split_into_korean_and_english(self, seed_path):
        olmo = seeds.parse(seeds.read_text(seed_path("001"))).papers[0]
        assert olmo.texts[("ko", "title")] == "OLMo: 언어 모델 과학의 가속화"
        assert olmo.texts[("en", "title")] == olmo.title == "OLMo: Accelerating the Science of Language Models"

    def test_glued_summaries_and_abstracts_split_by_script(self, seed_path):
        for paper in seeds.parse(seeds.read_text(seed_path("001"))).papers:
            for kind in ("summary", "abstract"):
                ko, en = paper.texts[("ko", kind)], paper.texts[("en", kind)]
                assert _has_hangul(ko) and not _has_hangul(en), (paper.title, kind)
                assert not ko.startswith("- ")
                assert len(en) > 40

    def test_the_split_keeps_english_words_inside_korean(self, seed_path):
        papers = seeds.parse(seeds.read_text(seed_path("001"))).papers
        olmo = papers[0]
        assert olmo.texts[("ko", "summary")].endswith("olmo 1b도 있습니다.")
        assert olmo.texts[("en", "summary")].startswith("Introduces open language model (olmo)")
        slice_gpt = papers[-1]  # glued with no full stop: "...확인할 수 있습니다Large language models..."
        assert slice_gpt.texts[("ko", "abstract")].endswith("에서 확인할 수 있습니다")
        assert slice_gpt.texts[("en", "abstract")].startswith("Large language models have become the cornerstone")
        noise = papers[7]  # English summary on its own line, starting in lower case
        assert noise.texts[("en", "summary")].startswith("a study that focuses on the components")

    def test_links_by_kind_and_the_week_from_the_source_link(self, seed_path):
        doc = seeds.parse(seeds.read_text(seed_path("001")))
        moe = doc.papers[5]
        assert moe.links == [
            ("paper", "https://arxiv.org/abs/2401.15947"),
            ("code", "https://github.com/PKU-YuanGroup/MoE-LLaVA"),
            ("discussion", "https://x.com/LinBin46984/status/1753403875531375003"),
        ]
        assert (doc.issue.week_start, doc.issue.week_end) == (dt.date(2024, 1, 29), dt.date(2024, 2, 4))
        assert doc.issue.source_urls[1] == "https://discuss.pytorch.kr/t/2024-01-29-02-04-ml-top-ml-papers-of-the-week/3434"
        assert doc.issue.editorials["ko"].startswith("- DAIR.AI에서 매주 공개하는")
        assert len(doc.issue.editorials["ko"].splitlines()) == 4
        assert "메일진" not in doc.issue.editorials["ko"]


class TestPaperNotes:
    def test_two_notes_with_authors_abstract_commentary_and_hashtags(self, seed_path):
        doc = seeds.parse(seeds.read_text(seed_path("000")))
        scp, lime = doc.papers
        assert scp.title == "Synthetic continued pretraining"
        assert scp.authors == ["Zitong Yang", "Neil Band", "Shuangping Li", "Emmanuel Candès", "Tatsunori Hashimoto"]
        assert scp.texts[("en", "abstract")].startswith("Pretraining on large-scale, unstructured internet text")
        assert scp.tags == ["synthetic-data", "continual-pretraining"]
        assert scp.commentaries[0].date == dt.date(2024, 9, 12)
        assert scp.commentaries[0].body.startswith("합성 데이터를 사용해") and len(scp.commentaries[0].body.splitlines()) == 3
        assert len(lime.authors) == 20 and lime.authors[-1] == "Ge Zhang"
        assert lime.tags == ["benchmark", "multimodal"]
        assert ("code", "https://github.com/kangreen0210/LIME-M") in lime.links
        assert ("further_reading", "https://www.jasonwei.net/blog/evals") in lime.links


class TestEssay:
    def test_boilerplate_is_stripped(self, seed_path):
        body = seeds.parse(seeds.read_text(seed_path("002"))).commentaries[0].body
        assert body.startswith("最近看国内对合成数据的研究讨论也变得多")
        for junk in ("微信扫码", "与创始人交个朋友", "我要投稿", "53AI,企业落地", "承诺:", "2024-07-11"):
            assert junk not in body
        assert "synthetic continued pretraining" in body


class TestImport:
    def test_demo_corpus_rows(self, imported_seeds):
        assert Paper.objects.count() == 12
        assert set(Paper.objects.exclude(arxiv_id="").values_list("arxiv_id", flat=True)) == set(DIGEST_IDS)
        # 10 digest papers x (ko, en) x (title, summary, abstract) + 2 notes x (en title, en abstract)
        assert PaperText.objects.count() == 64
        assert PaperText.objects.filter(origin=Origin.SOURCE).count() == 64
        assert SourceDocument.objects.count() == 3
        assert set(Tag.objects.values_list("slug", flat=True)) == {"synthetic-data", "continual-pretraining", "benchmark", "multimodal"}
        issue = Issue.objects.get()
        assert issue.status == Issue.Status.PUBLISHED
        assert [e.paper.arxiv_id for e in issue.entries.order_by("position")] == DIGEST_IDS
        assert issue.editorials.get(lang="ko").body.startswith("- DAIR.AI")

    def test_essay_is_linked_to_the_paper_it_discusses(self, imported_seeds):
        essay = Commentary.objects.get(lang="zh")
        assert list(essay.papers.values_list("title", flat=True)) == ["Synthetic continued pretraining"]
        assert essay.source.format == SourceDocument.Format.ESSAY

    def test_commentary_keeps_language_date_and_source(self, imported_seeds):
        scp = Paper.objects.get(title="Synthetic continued pretraining")
        langs = sorted(scp.commentaries.values_list("lang", flat=True))
        assert langs == ["ko", "zh"]
        note = scp.commentaries.get(lang="ko")
        assert note.date == dt.date(2024, 9, 12) and note.source.name.startswith("000_")
        assert list(scp.authorships.values_list("author__name", flat=True))[:2] == ["Zitong Yang", "Neil Band"]

    def test_second_run_creates_nothing(self, imported_seeds, seeds_dir):
        def counts():
            return [m.objects.count() for m in (Paper, PaperText, Link, Commentary, Tag, SourceDocument, Issue)]

        before = counts()
        reports = seeds.import_paths([seeds_dir])
        assert counts() == before
        assert all(r.unchanged and not r.error for r in reports)

    def test_changed_file_updates_in_place(self, imported_seeds, seed_path, tmp_path):
        changed = tmp_path / seed_path("001").name
        text = seed_path("001").read_text().replace("OLMo: 언어 모델 과학의 가속화", "OLMo: 언어 모델 과학을 앞당기다")
        changed.write_text(text)
        report = seeds.import_file(changed)
        assert (report.error, report.created, report.updated) == ("", 0, 1)
        olmo = Paper.objects.get(arxiv_id="2402.00838")
        assert olmo.texts.get(lang="ko", kind="title").body == "OLMo: 언어 모델 과학을 앞당기다"
        assert Paper.objects.count() == 12 and SourceDocument.objects.count() == 3

    def test_editor_text_survives_reimport(self, imported_seeds, seed_path):
        text = PaperText.objects.get(paper__arxiv_id="2402.00838", lang="ko", kind="summary")
        text.body, text.origin = "편집자가 고친 요약", Origin.EDITOR
        text.save()
        SourceDocument.objects.filter(name=seed_path("001").name).update(content_hash="stale")
        assert not seeds.import_file(seed_path("001")).error
        text.refresh_from_db()
        assert (text.body, text.origin) == ("편집자가 고친 요약", Origin.EDITOR)


class TestBadFiles:
    @pytest.mark.parametrize(
        "content, message",
        [
            (b"", "empty file"),
            (b"   \n\n", "empty file"),
            (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary file"),
            (b"\xff\xfe\xfaabc not utf8", "not UTF-8"),
            ("Just a shopping list\nmilk\neggs\n".encode(), "unknown format"),
        ],
    )
    def test_bad_file_gets_one_clear_error_and_writes_nothing(self, tmp_path, content, message):
        path = tmp_path / "bad.txt"
        path.write_bytes(content)
        report = seeds.import_file(path)
        assert message in report.error
        assert report.line().startswith("bad.txt: error: ")
        assert Paper.objects.count() == SourceDocument.objects.count() == 0

    def test_truncated_digest_writes_nothing(self, tmp_path, seed_path):
        text = seed_path("001").read_text()
        cut = tmp_path / "001_truncated.txt"
        cut.write_text(text[: text.index("https://arxiv.org/abs/2401.15024v1") - 10])  # mid last paper
        report = seeds.import_file(cut)
        assert "truncated" in report.error and "SliceGPT" in report.error
        assert Paper.objects.count() == 0 and Issue.objects.count() == 0

    def test_truncated_note_writes_nothing(self, tmp_path, seed_path):
        text = seed_path("000").read_text()
        cut = tmp_path / "000_truncated.txt"
        cut.write_text(text[: text.index("#benchmark")])
        report = seeds.import_file(cut)
        assert "truncated" in report.error and "LIME-M" in report.error
        assert Paper.objects.count() == 0

    def test_other_files_still_import_and_the_command_fails(self, tmp_path, seeds_dir, capsys):
        for path in seeds_dir.glob("*.txt"):
            shutil.copy(path, tmp_path)
        (tmp_path / "zz_empty.txt").write_bytes(b"")
        with pytest.raises(CommandError, match="1 of 4 files failed"):
            call_command("import_seeds", str(tmp_path))
        assert "zz_empty.txt: error: empty file" in capsys.readouterr().err
        assert Paper.objects.count() == 12

    def test_failure_midway_rolls_back_the_whole_file(self, tmp_path, seed_path):
        # The last paper repeats the first one's arXiv id, so the issue would list one paper
        # twice: the entry constraint fails at the very end, and nothing of the file stays.
        text = seed_path("001").read_text().replace("https://arxiv.org/abs/2401.15024v1", "https://arxiv.org/abs/2402.00838")
        dup = tmp_path / "dup.txt"
        dup.write_text(text)
        with pytest.raises(Exception):
            seeds.import_file(dup)
        assert Paper.objects.count() == 0 and SourceDocument.objects.count() == 0

    def test_another_week_in_the_same_shape_imports(self, tmp_path, seed_path):
        text = seed_path("001").read_text().replace("2024-01-29-02-04", "2024-02-05-02-11")
        other = tmp_path / "another_week.txt"
        other.write_text(text.replace("https://arxiv.org/abs/240", "https://arxiv.org/abs/250"))  # new ids
        seeds.import_file(seed_path("001"))
        report = seeds.import_file(other)
        assert (report.error, report.created) == ("", 10)
        assert Issue.objects.count() == 2 and Paper.objects.count() == 20
        assert Paper.objects.filter(arxiv_id="2502.00838").exists()
        assert Issue.objects.filter(week_start=dt.date(2024, 2, 5), week_end=dt.date(2024, 2, 11)).exists()
