"""/ask/, an answer's page and POST /api/ask through the test client: the no-JS flow
(form, redirect, refresh), the HTMX fragment, citations to the paper page, bad input in the
reader's language, and the per-client limit."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from papers.ask import write_answer
from papers.models import Answer
from tests.papers.ask.conftest import citing

pytestmark = pytest.mark.django_db

QUESTION = "Which papers use synthetic data for continued pretraining, and what did they find?"


@pytest.fixture
def reader(client, client_ip):
    client.defaults["REMOTE_ADDR"] = client_ip
    return client


def test_every_page_has_the_question_box(reader, ask_corpus):
    html = reader.get(reverse("papers:home")).content.decode()
    assert 'id="ask-box"' in html and f'action="{reverse("papers:ask")}"' in html


def test_a_question_is_answered_on_its_own_page_without_javascript(reader, ask_corpus, llm_server, django_capture_on_commit_callbacks):
    llm_server.responder = citing(("EntiGraph lifts closed-book QA accuracy on QuALITY to 56.2%.", [1]),
                                  ("Nobody checked this.", [9]))
    with django_capture_on_commit_callbacks() as queued:
        response = reader.post(reverse("papers:ask"), {"q": QUESTION})
    assert response.status_code == 302 and len(queued) == 1  # the worker's task, once committed
    answer = Answer.objects.get()
    assert response["Location"] == reverse("papers:answer", args=[answer.uid])

    waiting = reader.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' in waiting and "hx-get" in waiting  # refreshes itself, with or without JS

    write_answer(answer.pk)  # what the worker runs
    html = reader.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' not in html and 'hx-get="/ask/' not in html and 'data-status="complete"' in html
    assert "56.2%" in html
    source = Answer.objects.get().sources[0]
    assert f'href="{source["url"]}"' in html.replace("&amp;", "&")
    assert 'title="Synthetic continued pretraining: EntiGraph extracts' in html  # the quoted passage on hover
    assert "<details><summary>" in html and 'id="source-1"' in html
    assert re.search(r'class="answer-sentence unsupported">Nobody checked this\.', html)

    paper_page = reader.get(source["url"]).content.decode()
    assert f'id="passage-{source["passage_id"]}"' in paper_page and "455M synthetic tokens" in paper_page


def test_htmx_gets_the_fragment_and_the_url_of_the_answer(reader, ask_corpus, settings):
    settings.LLM_BASE_URL = ""
    response = reader.post(reverse("papers:ask"), {"q": QUESTION}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert response["HX-Push-Url"] == reverse("papers:answer", args=[Answer.objects.get().uid])
    assert 'data-status="pending"' in html


def test_offline_the_page_labels_the_extractive_answer(reader, ask_corpus, settings):
    settings.LLM_BASE_URL = ""
    reader.post(reverse("papers:ask"), {"q": QUESTION})
    answer = Answer.objects.get()
    write_answer(answer.pk)
    html = reader.get(reverse("papers:answer", args=[answer.uid])).content.decode()
    assert "Extractive answer (offline mode, no LLM)" in html and "<mark>" in html


@pytest.mark.parametrize("question, message", [
    ("", "Type a question."),
    ("x" * 10_000, "too long"),
    ("Как работает синтетическое предобучение?", "Korean, Chinese or English"),
    ("合成データで継続事前学習はどう効く？", "Korean, Chinese or English"),
    ("?!?", "at least one word"),
])
def test_bad_questions_get_a_message_and_no_answer(reader, ask_corpus, question, message):
    response = reader.post(reverse("papers:ask"), {"q": question})
    assert response.status_code == 400 and message in response.content.decode()
    api = reader.post(reverse("papers:api_ask"), json.dumps({"question": question}), content_type="application/json")
    assert api.status_code == 400 and message in api.json()["error"]
    assert not Answer.objects.exists()


def test_messages_are_in_the_readers_language(reader, ask_corpus):
    reader.cookies["django_language"] = "ko"
    response = reader.post(reverse("papers:ask"), {"q": ""})
    assert response.status_code == 400 and "질문을 입력하세요" in response.content.decode()


def test_the_api_answers_with_sentences_and_sources(reader, ask_corpus, llm_server):
    llm_server.responder = citing(("检索增强生成可以减少幻觉。", [1]))
    response = reader.post(reverse("papers:api_ask"), json.dumps({"question": "检索增强生成如何减少幻觉？"}),
                           content_type="application/json")
    data = response.json()
    assert response.status_code == 200 and data["status"] == "complete" and data["found"] and data["lang"] == "zh"
    assert data["sentences"] == [{"text": "检索增强生成可以减少幻觉。", "citations": [1], "supported": True}]
    assert data["sources"][0]["paper"]["arxiv_id"] == "2403.00001"
    assert data["sources"][0]["url"].startswith("http://testserver/papers/")
    assert "幻觉" in data["sources"][0]["quote"]


def test_the_api_says_what_is_not_in_the_knowledge_base(reader, ask_corpus, llm_server):
    data = reader.post(reverse("papers:api_ask"), {"q": "How do tardigrades survive in outer space?"}).json()
    assert data["found"] is False and data["sentences"] == [] and data["closest_papers"]
    assert "Not in the knowledge base" in data["message"]


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"question": 7}'])
def test_the_api_refuses_what_is_not_a_question(reader, ask_corpus, body):
    response = reader.post(reverse("papers:api_ask"), body, content_type="application/json")
    assert response.status_code == 400 and "question" in response.json()["error"]


def test_questions_are_limited_per_client(reader, ask_corpus, settings):
    settings.LLM_BASE_URL = ""
    settings.ASK_RATE_LIMIT = 2
    assert reader.post(reverse("papers:ask"), {"q": QUESTION}).status_code == 302
    assert reader.post(reverse("papers:api_ask"), {"q": QUESTION}).status_code == 200
    page = reader.post(reverse("papers:ask"), {"q": QUESTION})
    api = reader.post(reverse("papers:api_ask"), {"q": QUESTION})
    assert page.status_code == 429 and "Too many questions" in page.content.decode() and page["Retry-After"]
    assert api.status_code == 429 and "Too many questions" in api.json()["error"]


def test_an_unknown_answer_is_a_404(reader, db):
    assert reader.get("/ask/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_control_characters_in_a_question_are_spaces_not_a_server_error(reader, ask_corpus):
    body = json.dumps({"question": "retrieval\u0000augmented\u0007generation?"})
    response = reader.post(reverse("papers:api_ask"), body, content_type="application/json")
    assert response.status_code == 200 and response.json()["question"] == "retrieval augmented generation?"
