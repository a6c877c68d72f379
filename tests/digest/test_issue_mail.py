"""The issue as subscribers get it: headers, both MIME parts, language, fallback, tags."""

import re

import pytest

from digest import sending
from digest.models import Delivery

from .conftest import make_subscriber

pytestmark = pytest.mark.django_db


def test_headers_allow_one_click_unsubscribe(smtp_server, published_issue, ko_subscriber):
    sending.send_issue(published_issue)
    [mail] = smtp_server.to(ko_subscriber.email)
    message = mail.message
    assert re.fullmatch(r"<https?://\S+/unsubscribe/\S+/>", message["List-Unsubscribe"].strip())
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"].startswith("paper-digest weekly")
    assert message["Message-ID"] == f"<issue-{published_issue.pk}.subscriber-{ko_subscriber.pk}@localhost>"
    assert message["Content-Language"] == "ko"
    assert message["To"] == ko_subscriber.email
    assert message["Subject"] == "주간 ML 논문 2024-01-29 – 2024-02-04"  # in the subscriber's language
    # On the wire the URL stands in plain angle brackets (folded at most): mail clients do
    # not decode RFC 2047 words in List-Unsubscribe.
    raw = mail.raw.decode("utf-8")
    assert re.search(r"^List-Unsubscribe:\s*<https?://[^>\s]+>\r?$", raw, re.M)
    assert re.search(r"^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r?$", raw, re.M)


def test_message_has_plain_text_and_html_with_inlined_css(smtp_server, published_issue, en_subscriber):
    sending.send_issue(published_issue)
    [mail] = smtp_server.to(en_subscriber.email)
    assert mail.message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.message.iter_parts()] == ["text/plain", "text/html"]
    assert "<" not in mail.text.replace("<http", "")  # the text part is text, not markup
    html = mail.html
    assert "<style" not in html  # inlined: many mail clients drop <style>
    assert re.search(r'<div class="card" style="[^"]*max-width: 640px', html)
    # Links go back to the site, absolute.
    assert f"http://localhost:8000{published_issue.get_absolute_url()}" in html
    assert "http://localhost:8000/papers/" in mail.text


def test_korean_subscriber_gets_korean_with_visible_english_fallback(smtp_server, published_issue, ko_subscriber):
    sending.send_issue(published_issue)
    [mail] = smtp_server.to(ko_subscriber.email)
    text, html = mail.text, mail.html
    assert "합성 지속 사전학습" in text and "멀티모달 벤치마크" in text
    assert "이번 주는 합성 데이터의 한 주였다." in text  # the Korean editorial
    assert "A week of synthetic data." not in text
    # The paper without a Korean text is shown in English, and says so.
    assert "Only in English" in text
    assert text.count("영어로 표시: 아직 한국어 번역이 없습니다.") == 1
    fallback_entry = re.search(r'<div class="entry"[^>]*lang="en"[^>]*>.*?</div>', html, re.S).group(0)
    assert "Only in English" in fallback_entry and "아직 한국어 번역이 없습니다" in fallback_entry


def test_chinese_subscriber_gets_english_marked_as_fallback(smtp_server, published_issue, zh_subscriber):
    sending.send_issue(published_issue)
    [mail] = smtp_server.to(zh_subscriber.email)
    assert "Synthetic continued pretraining" in mail.text
    assert mail.text.count("以英文显示：尚无中文译文。") == 3
    assert "以英文显示：尚无中文版本。" in mail.text  # the editorial too


def test_english_subscriber_sees_no_fallback_notes(smtp_server, published_issue, en_subscriber):
    sending.send_issue(published_issue)
    [mail] = smtp_server.to(en_subscriber.email)
    assert "In English:" not in mail.text
    assert "Synthetic continued pretraining" in mail.text and "A week of synthetic data." in mail.text


def test_tags_filter_the_entries(smtp_server, published_issue, tags):
    make_subscriber("multi@example.org", tags=[tags["multimodal"]])
    make_subscriber("both@example.org", tags=[tags["synthetic-data"], tags["multimodal"]])
    sending.send_issue(published_issue)
    [multi] = smtp_server.to("multi@example.org")
    [both] = smtp_server.to("both@example.org")
    assert "A multimodal benchmark" in multi.text
    assert "Synthetic continued pretraining" not in multi.text and "Only in English" not in multi.text
    assert "A multimodal benchmark" in both.text and "Synthetic continued pretraining" in both.text
    assert "Only in English" not in both.text


def test_subscriber_whose_tags_match_nothing_is_skipped_not_mailed(smtp_server, published_issue, tags):
    from papers.models import Tag

    rare = Tag.objects.create(slug="robotics", name="robotics")
    subscriber = make_subscriber("robots@example.org", tags=[rare])
    report = sending.send_issue(published_issue)
    assert smtp_server.to("robots@example.org") == []
    assert report.skipped == 1
    assert Delivery.objects.get(subscriber=subscriber).status == Delivery.Status.SKIPPED


def test_each_subscriber_gets_their_own_unsubscribe_link(smtp_server, published_issue, ko_subscriber):
    other = make_subscriber("jiwoo@example.org", lang="ko")
    sending.send_issue(published_issue)
    [a] = smtp_server.to(ko_subscriber.email)
    [b] = smtp_server.to(other.email)
    assert a.message["List-Unsubscribe"] != b.message["List-Unsubscribe"]
    assert a.message["List-Unsubscribe"].strip()[1:-1] in a.html
    assert b.message["List-Unsubscribe"].strip()[1:-1] in b.text
    assert "placeholder.invalid" not in a.html + a.text


def test_published_issue_mail_ignores_later_enrichment(smtp_server, published_issue, ko_subscriber):
    from papers.models import PaperText

    # An enrichment run rewrites a summary after publication.
    PaperText.objects.filter(lang="ko", kind="summary", body__startswith="EntiGraph").update(body="다시 쓴 요약")
    sending.send_issue(published_issue)
    [mail] = smtp_server.to(ko_subscriber.email)
    assert "EntiGraph는 작은 말뭉치를 큰 합성 말뭉치로 바꾼다." in mail.text
    assert "다시 쓴 요약" not in mail.text


def test_user_text_is_escaped_in_html(smtp_server, published_issue, en_subscriber):
    from papers.models import Issue, IssueEditorial

    IssueEditorial.objects.filter(issue=published_issue, lang="en").update(body="<script>alert(1)</script>")
    Issue.objects.filter(pk=published_issue.pk).update(frozen_content=None)  # frozen again from the live data
    sending.send_issue(Issue.objects.get(pk=published_issue.pk))
    [mail] = smtp_server.to(en_subscriber.email)
    assert "<script>" not in mail.html and "&lt;script&gt;" in mail.html
