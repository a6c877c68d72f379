"""The answer streams: each whole sentence is on the row (and so on the reader's page) while
the LLM is still writing, and a stream that stalls mid-reply leaves a failed answer, never a
partial one marked complete. A real thread writes while this test reads, so the rows are
committed (transactional_db)."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection

from papers.ask import start_answer, write_answer
from papers.models import Answer
from tests.llm_server import Reply
from tests.papers.ask.conftest import citing
from tests.polling import wait_until

QUESTION = "Which papers use synthetic data for continued pretraining, and what did they find?"
SENTENCES = (("EntiGraph synthesizes text about the entities of a small corpus.", [1]),
             ("Continued pretraining on it lifts QuALITY accuracy to 56.2%.", [1]),
             ("Retrieval-augmented generation adds further gains.", [1]))


def _writing(answer: Answer) -> threading.Thread:
    def write() -> None:
        try:
            write_answer(answer.pk)
        finally:
            connection.close()  # this thread's own: the test database is dropped at the end

    thread = threading.Thread(target=write)
    thread.start()
    return thread


@pytest.fixture
def streamed_answer(transactional_db, ask_corpus, llm_server):
    llm_server.responder = citing(*SENTENCES)
    return llm_server


def _two_sentences_in(reply: dict) -> int:
    """How many characters of the reply's JSON hold its first two sentences whole."""
    text = json.dumps(reply, ensure_ascii=False)
    return text.index(json.dumps(reply["sentences"][1], ensure_ascii=False)) + len(json.dumps(reply["sentences"][1], ensure_ascii=False))


def test_sentences_reach_the_row_while_the_reply_is_written_and_a_stall_fails_the_answer(streamed_answer, settings):
    settings.LLM_MAX_RETRIES = 0
    reply = streamed_answer.responder(None)
    streamed_answer.script(Reply.stall_mid_stream(after_chars=_two_sentences_in(reply) + 5, seconds=4))
    answer, _ = start_answer(QUESTION)
    thread = _writing(answer)

    # The server holds the stream after two sentences: they are on the row, the answer is not done.
    streaming = Answer.objects.filter(pk=answer.pk, status=Answer.Status.STREAMING).exclude(sentences=[])
    wait_until(streaming.exists, describe=lambda: "no sentence on the row while the reply streamed")
    row = streaming.get()
    assert [s["text"] for s in row.sentences] == [t for t, _ in SENTENCES[:2]]
    assert all(s["supported"] for s in row.sentences) and row.first_token_ms is not None

    thread.join(timeout=30)
    row.refresh_from_db()
    assert row.status == Answer.Status.FAILED and row.sentences == [] and "in time" in row.error


def test_a_whole_stream_completes_the_answer(streamed_answer):
    answer, _ = start_answer(QUESTION)
    _writing(answer).join(timeout=30)
    answer.refresh_from_db()
    assert answer.status == Answer.Status.COMPLETE and [s["text"] for s in answer.sentences] == [t for t, _ in SENTENCES]
    assert answer.first_output_ms <= answer.first_token_ms <= answer.total_ms
    assert streamed_answer.received[-1].body["stream"] is True
