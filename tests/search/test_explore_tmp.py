import numpy as np
from papers import embeddings
from papers.models import Embedding

QUERIES = ["합성 데이터로 지속 사전학습", "synthetic continued pretraining", "检索增强生成", "合成数据", "大模型压缩", "모델 압축", "hallucination benchmark", "환각", "幻觉"]

def test_explore(corpus):
    rows = list(Embedding.objects.select_related("paper"))
    V = np.array([r.vector for r in rows]); langs = np.array([r.lang for r in rows]); kinds=[r.kind for r in rows]
    cent = {l: V[langs == l].mean(0) for l in set(langs)}
    for q in QUERIES:
        v = embeddings.embed_query(q)
        d = 1 - V @ v
        off = {l: 1 - (cent[l] / np.linalg.norm(cent[l])) @ v for l in cent}
        base = np.mean(list(off.values()))
        adj = d - np.array([off[l] for l in langs]) + base
        print("\n==", q, {l: round(float(o), 3) for l, o in off.items()})
        for name, score in (("raw", d), ("adj", adj)):
            best = {}
            for i in np.argsort(score):
                best.setdefault(rows[i].paper.title[:30], (round(float(score[i]), 3), kinds[i], langs[i]))
            print("  ", name, list(best.items())[:5])
    assert 0
