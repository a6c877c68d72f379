"""Planning, prompts and entity handling of the strategies (no database, no server)."""

from __future__ import annotations

import itertools

from synth.corpus import count_tokens
from synth.synthesis import entigraph
from synth.synthesis.entigraph import Source


def sources() -> list[Source]:
    return [
        Source(1, "Doc one", "First text.", "hash-one", ("A", "B", "C", "D", "E")),
        Source(2, "Doc two", "Second text.", "hash-two", ("P", "Q", "R")),
    ]


def test_entities_are_normalized_and_deduplicated_in_salience_order():
    raw = ["The EntiGraph", "entigraph", " Llama  3 ", '"RAG"', "LLMs", "LLM", "", "2024", 42, "x" * 90, "QuALITY."]
    assert entigraph.dedupe_entities(raw, limit=10) == ["EntiGraph", "Llama 3", "RAG", "LLMs", "QuALITY"]
    assert entigraph.dedupe_entities(raw, limit=2) == ["EntiGraph", "Llama 3"]


def test_pairs_cover_every_pair_and_triples_are_sampled_without_repeats():
    pairs = entigraph.plan_stage("entigraph", "pair", sources(), seed=0, triples_per_document=4)
    assert len(pairs) == 10 + 3
    assert {frozenset(u.entities) for u in pairs if u.document_id == 1} == {frozenset(c) for c in itertools.combinations("ABCDE", 2)}
    # Round-robin: the documents take turns while both have pairs left.
    assert [u.document_id for u in pairs[:6]] == [1, 2, 1, 2, 1, 2]

    triples = entigraph.plan_stage("entigraph", "triple", sources(), seed=0, triples_per_document=4)
    one = [u.entities for u in triples if u.document_id == 1]
    assert len(one) == 4 and len(set(one)) == 4 and all(len(t) == 3 for t in one)
    assert [u.entities for u in triples if u.document_id == 2] == [("P", "Q", "R")]  # only one triple exists


def test_sampling_is_seeded_and_reproducible():
    def plan(seed):
        return [(u.document_id, u.entities) for u in entigraph.plan_stage("entigraph", "triple", sources(), seed=seed, triples_per_document=3)]

    assert plan(5) == plan(5)
    assert plan(5) != plan(6)


def test_entigraph_stages_put_pairs_before_triples():
    assert entigraph.STAGES["entigraph"] == ["entities", "pair", "triple"]
    assert entigraph.STAGES["extractive"] == ["entities", "pair"]


def test_unit_key_ignores_entity_order_and_changes_with_model_prompt_or_document():
    key = dict(prompt_version="entigraph-v1", model="m", document_hash="h", stage="pair")
    assert entigraph.unit_key(**key, entities=("A", "B")) == entigraph.unit_key(**key, entities=("b", "a"))
    base = entigraph.unit_key(**key, entities=("A", "B"))
    assert base != entigraph.unit_key(**{**key, "model": "m2"}, entities=("A", "B"))
    assert base != entigraph.unit_key(**{**key, "prompt_version": "entigraph-v2"}, entities=("A", "B"))
    assert base != entigraph.unit_key(**{**key, "document_hash": "h2"}, entities=("A", "B"))


def test_prompts_put_the_document_before_the_entities():
    source = Source(1, "Title", "Body of the document.", "h", ("A", "B", "C"))
    entity_prompt = entigraph.entities_prompt(source, limit=10)
    pair, triple = entigraph.relation_prompt(source, ("A", "B")), entigraph.relation_prompt(source, ("A", "B", "C"))
    prefix = entity_prompt[: entity_prompt.index("</document>") + len("</document>")]
    assert pair.startswith(prefix) and triple.startswith(prefix)
    assert pair.index("Body of the document.") < pair.index("- A\n- B")
    assert entigraph.rephrase_prompt(source, "qa").startswith(prefix)


def test_outputs_that_are_empty_or_refused_are_dropped():
    assert entigraph.drop_reason("   ") == "empty"
    assert entigraph.drop_reason("I'm sorry, I can't do that.") == "refused"
    assert entigraph.drop_reason("죄송하지만 도와드릴 수 없습니다.") == "refused"
    assert entigraph.drop_reason("EntiGraph relates entities.") == ""


def test_extractive_entities_and_passages_come_from_the_text():
    text = ("We propose EntiGraph for synthetic data. EntiGraph builds an entity graph. "
            "Synthetic data helps small corpora. QuALITY is a benchmark.")
    entities = entigraph.extract_entities(text, limit=5)
    assert entities[:2] == ["EntiGraph", "synthetic data"] and "QuALITY" in entities
    assert entigraph.extractive_passage(text, ("EntiGraph", "synthetic data")) == (
        "EntiGraph / synthetic data: We propose EntiGraph for synthetic data."
    )
    # No sentence has both: the first sentence mentioning each one.
    assert entigraph.extractive_passage(text, ("QuALITY", "EntiGraph")) == (
        "QuALITY / EntiGraph: QuALITY is a benchmark. We propose EntiGraph for synthetic data."
    )
    assert entigraph.extractive_passage(text, ("QuALITY", "Mistral")) == ""


def test_token_counts_treat_cjk_characters_and_words_alike():
    assert count_tokens("EntiGraph data") == 1 + 1 + 1  # "EntiGraph" is 9 letters: two tokens
    assert count_tokens("합성 데이터") == 5
    assert count_tokens("合成数据。") == 5
    assert count_tokens("") == 0
