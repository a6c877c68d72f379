"""The synthesis strategies: what units each stage plans, the prompts, and how replies and
extractive passages become synthetic text. No database, no network: synth.synthesis.runner does that.

- entigraph (Yang et al., 2024, "Synthetic continued pretraining"): per document one call
  returns a summary and the salient entities; then one call per entity pair, then sampled
  triples, each writing a passage that relates the entities as the document does.
- rephrase (a WRAP-style baseline): each document rewritten in several styles.
- extractive (a baseline that needs no LLM): the document's own sentences that mention
  each entity pair, so the synthesize-then-train loop runs offline. Never called EntiGraph.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

ENTIGRAPH, REPHRASE, EXTRACTIVE = "entigraph", "rephrase", "extractive"
ENTITIES, PAIR, TRIPLE, REPHRASE_STAGE = "entities", "pair", "triple", "rephrase"

# Bump a version when its prompts change: it is part of every unit key, so old results are
# not mistaken for new ones.
PROMPT_VERSIONS = {ENTIGRAPH: "entigraph-v1", REPHRASE: "rephrase-v1", EXTRACTIVE: "extractive-v1"}
STAGES = {ENTIGRAPH: [ENTITIES, PAIR, TRIPLE], REPHRASE: [REPHRASE_STAGE], EXTRACTIVE: [ENTITIES, PAIR]}
EXTRACTIVE_MODEL = "extractive"  # what an extractive run records as its model
REPHRASE_STYLES = ["encyclopedic", "easy", "qa"]


@dataclass(frozen=True)
class Source:
    """What a strategy needs of a corpus document."""

    id: int
    title: str
    text: str
    content_hash: str
    entities: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlannedUnit:
    document_id: int
    stage: str
    entities: tuple[str, ...] = ()
    style: str = ""


def unit_key(*, prompt_version: str, model: str, document_hash: str, stage: str,
             entities: tuple[str, ...] = (), style: str = "") -> str:
    # The entity tuple is keyed in a fixed order: (A, B) and (B, A) are the same unit.
    names = sorted(entity_key(e) for e in entities)
    raw = json.dumps([prompt_version, model, document_hash, stage, style, names], ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


# --- entities -------------------------------------------------------------------------

_EDGE_CHARS = " \t\"'`“”‘’«»「」『』()[]{}<>.,;:!?·•*#|/\\"
_ARTICLE_RE = re.compile(r"^(the|a|an)\s+", re.IGNORECASE)


def clean_entity(name: str) -> str:
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", str(name))).strip(_EDGE_CHARS)
    return _ARTICLE_RE.sub("", text).strip(_EDGE_CHARS)


def entity_key(name: str) -> str:
    """Two spellings with one key are one entity: case, punctuation and a plural -s don't count."""
    key = "".join(ch for ch in clean_entity(name).casefold() if ch.isalnum())
    if len(key) > 3 and key.endswith("s") and not key.endswith("ss"):
        key = key[:-1]
    return key


def dedupe_entities(names, *, limit: int) -> list[str]:
    """Cleaned entities in their given (salience) order, one per key, at most `limit`."""
    seen: set[str] = set()
    out: list[str] = []
    for raw in names:
        if not isinstance(raw, str):
            continue
        name, key = clean_entity(raw), entity_key(raw)
        if not key or key in seen or len(name) > 80 or key.isdigit():
            continue
        seen.add(key)
        out.append(name)
        if len(out) >= limit:
            break
    return out


# --- planning -------------------------------------------------------------------------


def plan_stage(strategy: str, stage: str, sources: list[Source], *, seed: int, triples_per_document: int) -> list[PlannedUnit]:
    """The stage's units in the order they run. Pairs and triples are shuffled per document with
    a seed made of the run's seed and the document hash (reproducible, independent of the other
    documents), then taken round-robin so that a budget stop leaves every document covered."""
    if stage == ENTITIES:
        return [PlannedUnit(s.id, ENTITIES) for s in sources]
    if stage == REPHRASE_STAGE:
        return [PlannedUnit(s.id, REPHRASE_STAGE, style=style) for s in sources for style in REPHRASE_STYLES]
    per_doc = []
    for s in sources:
        rng = random.Random(f"{seed}:{s.content_hash}:{stage}")
        if stage == PAIR:
            tuples = list(itertools.combinations(s.entities, 2))
            rng.shuffle(tuples)
        elif stage == TRIPLE:
            combos = list(itertools.combinations(s.entities, 3))
            tuples = rng.sample(combos, min(triples_per_document, len(combos)))
        else:
            raise ValueError(f"{strategy} has no stage {stage!r}")
        per_doc.append([PlannedUnit(s.id, stage, entities=t) for t in tuples])
    return [u for group in itertools.zip_longest(*per_doc) for u in group if u is not None]


# --- prompts --------------------------------------------------------------------------
# The document comes first and is worded the same in every call for it, so a provider's
# prompt cache can reuse that prefix across the entity call and all its pair/triple calls.

SYSTEM = ("You help build a training corpus from a small set of scientific texts. Stay faithful to the "
          "document you are given and add no outside facts. Write in the language of the document.")


def _document_block(source: Source) -> str:
    return f"<document>\nTitle: {source.title}\n\n{source.text}\n</document>\n\n"


def entities_prompt(source: Source, *, limit: int) -> str:
    return _document_block(source) + (
        "Summarize the document above in two or three sentences. Then list its salient entities: people, "
        f"places, organizations, models, data sets, methods and concepts, named as in the document, at most {limit}, "
        "most important first."
    )


def relation_prompt(source: Source, entities: tuple[str, ...]) -> str:
    listed = "\n".join(f"- {e}" for e in entities)
    what = "these two entities relate" if len(entities) == 2 else "these three entities relate to one another"
    return _document_block(source) + (
        f"Entities:\n{listed}\n\nWrite a passage of one or two paragraphs that discusses how {what} "
        "in the context of the document above. Ground every statement in the document. Plain prose, no heading."
    )


_STYLE_TASKS = {
    "encyclopedic": "Rewrite the document above as an encyclopedia entry: neutral, precise, complete.",
    "easy": "Rewrite the document above in plain, easy language that a high-school student can follow; keep every fact.",
    "qa": "Rewrite the document above as a series of questions and answers that together cover all of its content.",
}


def rephrase_prompt(source: Source, style: str) -> str:
    return _document_block(source) + _STYLE_TASKS[style] + " No heading."


# papers.llm validates the entity call's reply against this schema (and asks once for a repair).
ENTITIES_SCHEMA = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "entities": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    "required": ["summary", "entities"],
}


# --- checking outputs -----------------------------------------------------------------

_REFUSAL_RE = re.compile(
    r"^\s*(I'?m sorry|I am sorry|I cannot|I can'?t|I'm unable|I am unable|As an AI|Sorry,|죄송|抱歉|对不起|我无法|我不能)",
    re.IGNORECASE,
)


def drop_reason(text: str) -> str:
    """Why a synthetic text is dropped ("empty", "refused"), or "" to keep it. A reply cut off
    at max_tokens never gets here: the gateway reports it (LLMError.TRUNCATED)."""
    if not text.strip():
        return "empty"
    if _REFUSAL_RE.match(text):
        return "refused"
    return ""


# --- extractive baseline --------------------------------------------------------------

_STOPWORDS = set("""
a an and are as at be been but by can do does for from had has have how however if in into is it its
more most no not of on or our over such than that the their them then there these they this those
through to under up using via was we were what when where which while who will with within without
also both each here new one only other show shows shown study paper approach based results result
use used two first large small work task tasks propose proposed present
""".split())
_SENTENCE_RE = re.compile(r"(?<=[.!?。！？])\s+|\n+")
_CAPITALIZED_RE = re.compile(r"\b[A-Z][\w\-]*(?:[ \-][A-Z0-9][\w\-]*)*")
_WORD_RE = re.compile(r"[^\W\d_][\w\-]*", re.UNICODE)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_RE.split(text) if s and s.strip()]


def extract_entities(text: str, *, limit: int) -> list[str]:
    """Salient terms without an LLM: names and acronyms (EntiGraph, GPT-4, QuALITY), and runs
    of plain words that recur (synthetic data). Ranked by count, then first appearance."""
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    display: dict[str, str] = {}

    def add(name: str, pos: int) -> None:
        key = entity_key(name)
        if len(key) >= 2:
            counts[key] += 1
            first.setdefault(key, pos)
            display.setdefault(key, clean_entity(name))

    for m in _CAPITALIZED_RE.finditer(text):
        words = m.group().split()
        while words and words[0].lower() in _STOPWORDS:
            words = words[1:]  # "The EntiGraph ..." at a sentence start
        if not words:
            continue
        word = words[0]
        plain = word[1:].islower() and not any(ch.isdigit() for ch in word)
        at_start = not text[:m.start()].strip() or text[:m.start()].rstrip()[-1] in ".!?:\n"
        if len(words) == 1 and plain and (at_start or len(word) < 3):
            continue  # an ordinary word that starts a sentence
        add(" ".join(words), m.start())
    phrases: Counter[str] = Counter()
    words = [(m.group(), m.start()) for m in _WORD_RE.finditer(text)]
    for n in (2, 3):
        for gram in zip(*(words[i:] for i in range(n))):
            terms = [w for w, _ in gram]
            # Plain words only ("Synthetic" starting a sentence counts as "synthetic"); names are above.
            if all((w.islower() or w[1:].islower()) and w.lower() not in _STOPWORDS and len(w) > 2 for w in terms):
                phrase = " ".join(terms).lower()
                phrases[phrase] += 1
                first.setdefault(entity_key(phrase), gram[0][1])
    by_key: Counter[str] = Counter()
    for phrase, count in phrases.items():
        by_key[entity_key(phrase)] += count
        display.setdefault(entity_key(phrase), phrase)
    for key, count in by_key.items():
        # "synthetic continued" is only a part of "synthetic continued pretraining" if never seen alone.
        covered = any(count <= c and key in longer and key != longer for longer, c in by_key.items())
        if count >= 2 and not covered:
            counts[key] += count
    ranked = sorted(counts, key=lambda k: (-counts[k], first[k]))
    return dedupe_entities([display[k] for k in ranked], limit=limit)


def _mentions(sentence: str, entity: str) -> bool:
    return clean_entity(entity).casefold() in sentence.casefold()


def extractive_passage(text: str, entities: tuple[str, ...]) -> str:
    """The sentences that mention all the entities; failing that, the first sentence that
    mentions each one. Empty when an entity is mentioned nowhere."""
    sentences = split_sentences(text)
    together = [s for s in sentences if all(_mentions(s, e) for e in entities)]
    if together:
        chosen = together
    else:
        chosen = []
        for e in entities:
            hit = next((s for s in sentences if _mentions(s, e)), None)
            if hit is None:
                return ""
            if hit not in chosen:
                chosen.append(hit)
    return f"{' / '.join(entities)}: " + " ".join(chosen)
