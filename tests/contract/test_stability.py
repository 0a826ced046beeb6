"""One copy, one grade: every catalogue entry, wrong or correct, gets the same score whatever the draw.

A spec's cases hold, by construction, the structures on which each catalogued mistake shows; random
values and random extra cases come on top (`autograder.specs.Case`). `make test` grades each entry
under a few seeds; `make test-stability` under many (`STABILITY_SEEDS`, docs/adding-a-tp.md).
"""

import os
from collections import Counter

import pytest

from conftest import TPS, assignment, catalogue, student_namespace

SEEDS = range(1, 1 + int(os.environ.get("STABILITY_SEEDS", "16")))


def _entries():
    params = []
    for tp in [tp for tp in TPS if catalogue(tp)]:
        entries = [("wrong", name, source) for name, source, _ in catalogue(tp).WRONG]
        entries += [("correct", name, source) for name, source in catalogue(tp).CORRECT]
        params += [pytest.param(tp, name, source, marks=getattr(pytest.mark, tp), id=f"{tp}-{kind}-{name}-{i}")
                   for i, (kind, name, source) in enumerate(entries)]
    return params


@pytest.mark.parametrize("tp,name,source", _entries())
def test_a_catalogue_entry_gets_one_score_whatever_the_draw(tp, name, source):
    namespace = student_namespace(tp, source)
    scores = Counter(assignment(tp).check(name, namespace, seed).points for seed in SEEDS)
    assert len(scores) == 1, f"score by draw over {len(SEEDS)} seeds: {dict(scores)}"
