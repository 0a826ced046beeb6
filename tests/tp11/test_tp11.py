"""What is special to TP 11: the given `Tensor` class, and the expression graphs its scenario checks build."""

import torch

from autograder.tp11 import graphs
from conftest import assignment, student_namespace


EDITED_CLASS = '''
class Tensor:
    """A student's own version: other attribute names, no rules, gradients None at first."""
    def __init__(self, data, parents=()):
        self.valeur, self.grad, self.entrees = data, None, parents
'''


def test_an_edited_tensor_class_changes_no_verdict_of_the_functions():
    namespace = student_namespace("tp11", EDITED_CLASS)
    for name in ("topological_order", "backward"):
        result = assignment("tp11").check(name, namespace, seed=5)
        assert result.passed, result.report()


def _uses(graph):
    args = [a for node in graph for a in node.get("args", ())]
    return {name: args.count(name) for name in set(args)}


def test_no_graph_has_a_node_whose_gradient_is_zero():
    """Where a relu zeroes all of its input, `=` for `+=` upstream of it goes unseen: such draws are redrawn
    (seed 811 drew one, and a copy graded twice got 0.33 then 0.67 for the same mistake)."""
    for seed in [811, *range(1000)]:
        for case in graphs.graph_cases(torch.Generator().manual_seed(seed)):
            gradients = graphs.graph_gradients(case.inputs)[0]
            assert all(torch.count_nonzero(g) for g in gradients.values()), (seed, case.label)


def test_random_graphs_share_a_node_and_every_node_reaches_the_root():
    cases = [c for seed in range(200) for c in graphs.graph_cases(torch.Generator().manual_seed(seed))]
    assert len(cases) == 1200 and sum("hasard" in case.label for case in cases) == 400
    for case in cases:
        graph = case.inputs["graph"]
        if "réseau" not in case.label:  # the network alone shares nothing
            assert max(_uses(graph).values()) >= 2, case.label
        assert set(graphs._reachable(graph)) == {node["name"] for node in graph}, case.label
        assert graph[-1]["op"] in ("sum", "cross_entropy")
