"""The rules an LLM answer must pass, enforced here rather than asked for in the prompt:
each sentence keeps only citations of passages that were retrieved for this question (the
reply can only name them by their numbers, 1..n); a sentence left with none is marked
unsupported; a reply with no supported sentence is no answer ("not in the knowledge base").
Sentences are plain text: markup and control characters are removed, and the page escapes
what is left."""

from __future__ import annotations

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


def ground(reply: dict, *, retrieved: int) -> tuple[list[dict], bool]:
    """(sentences, found) for a schema-valid reply to a prompt with `retrieved` numbered
    passages. Each sentence: {"text", "citations" (kept), "dropped" (named but not
    retrieved), "supported"}. found is False when nothing in the reply is supported."""
    sentences = []
    for item in reply.get("sentences", []):
        text = plain(item["text"])
        if not text:
            continue
        named = list(dict.fromkeys(item["citations"]))
        kept = [n for n in named if 1 <= n <= retrieved]
        sentences.append({"text": text, "citations": kept, "dropped": [n for n in named if n not in kept],
                          "supported": bool(kept)})
    found = bool(reply.get("answerable")) and any(s["supported"] for s in sentences)
    return (sentences if found else []), found
