"""The rules an LLM answer must pass, enforced here rather than asked for in the prompt:
each sentence keeps only citations of passages that were retrieved for this question (the
reply can only name them by their numbers, 1..n); a sentence left with none is marked
unsupported; a reply with no supported sentence is no answer ("not in the knowledge base").
Sentences are plain text: markup and control characters are removed, and the page escapes
what is left."""

from __future__ import annotations

import json
import re

from django.utils.html import strip_tags

MAX_SENTENCES = 12
MAX_SENTENCE_CHARS = 1000

# The reply the LLM must give (papers.llm validates it, with one repair attempt).
ANSWER_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["answerable", "sentences"],
    "properties": {
        "answerable": {"type": "boolean"},
        "sentences": {
            "type": "array",
            "maxItems": MAX_SENTENCES,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["text", "citations"],
                "properties": {
                    "text": {"type": "string", "minLength": 1, "maxLength": MAX_SENTENCE_CHARS},
                    "citations": {"type": "array", "maxItems": 8, "items": {"type": "integer"}},
                },
            },
        },
    },
}

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def plain(text: str) -> str:
    """LLM text as plain text: no tags, no control or bidi-override characters, one space."""
    return " ".join(_CONTROL.sub("", strip_tags(text or "")).split())


def sentences_so_far(partial: str) -> list[dict]:
    """The sentence objects complete so far in a streamed reply, e.g. of
    '{"answerable": true, "sentences": [{"text": "A.", "citations": [1]}, {"text": "B'
    the first. Only whole objects count; the rest of the reply is checked when it is whole."""
    start = partial.find('"sentences"')
    position = partial.find("[", start) + 1 if start >= 0 else 0
    if not position:
        return []
    decoder, found = json.JSONDecoder(), []
    while True:
        while position < len(partial) and partial[position] in " \t\r\n,":
            position += 1
        try:
            item, position = decoder.raw_decode(partial, position)
        except ValueError:
            return found
        if not (isinstance(item, dict) and isinstance(item.get("text"), str) and isinstance(item.get("citations"), list)
                and all(type(n) is int for n in item["citations"])):
            return found
        found.append(item)


def ground_sentences(items: list[dict], *, retrieved: int) -> list[dict]:
    """Each sentence with only the citations of retrieved passages (1..retrieved) kept."""
    sentences = []
    for item in items:
        text = plain(item["text"])
        if not text:
            continue
        named = list(dict.fromkeys(item["citations"]))
        kept = [n for n in named if 1 <= n <= retrieved]
        sentences.append({"text": text, "citations": kept, "dropped": [n for n in named if n not in kept],
                          "supported": bool(kept)})
    return sentences


def ground(reply: dict, *, retrieved: int) -> tuple[list[dict], bool]:
    """(sentences, found) for a schema-valid reply to a prompt with `retrieved` numbered
    passages. Each sentence: {"text", "citations" (kept), "dropped" (named but not
    retrieved), "supported"}. found is False when nothing in the reply is supported."""
    sentences = ground_sentences(reply.get("sentences", []), retrieved=retrieved)
    found = bool(reply.get("answerable")) and any(s["supported"] for s in sentences)
    return (sentences if found else []), found
