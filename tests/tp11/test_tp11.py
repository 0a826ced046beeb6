"""What is special to TP 11: the given `Tensor` class, the expression graphs its scenario checks build, and
a training that exercises the whole engine."""


import pytest
import torch

from autograder.tp11 import graphs
from conftest import assignment, student_namespace, training_verdict
from tp11_catalogue import ENGINE_MISTAKES


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
    assert len(cases) == 1400 and sum(case.extra for case in cases) == 400
    assert all(("hasard" in case.label) == case.extra for case in cases)  # random graphs come on top
    for case in cases:
        graph = case.inputs["graph"]
        if "réseau" not in case.label:  # the network alone shares nothing
            assert max(_uses(graph).values()) >= 2, case.label
        assert set(graphs._reachable(graph)) == {node["name"] for node in graph}, case.label
        assert graph[-1]["op"] in ("sum", "cross_entropy")


def _training(mistakes: dict[str, str]):
    return training_verdict("tp11", mistakes)


ENGINE = "les gradients que votre moteur calcule pour le réseau entraîné"


@pytest.mark.parametrize("wrong, most, said", [  # the training's points are at most `most`
    ((), 3, None),
    (("unbroadcast",), 0, "n'existe(nt) pas"),  # the broadcast biases' gradients keep the batch dimension
    (("topological_order",), 1, ENGINE),
    (("backward",), 1, ENGINE),
    (("unbroadcast", "topological_order", "backward"), 0, "n'existe(nt) pas"),
], ids=["reference", "unbroadcast", "topological_order", "backward", "all three"])
def test_each_mistake_of_the_engine_costs_the_training_its_points(wrong, most, said):
    """The network has biases broadcast over the batch and a node used twice (its hidden activations, by the
    output layer and the penalty): an engine right only without them trains another network, and its final
    gradients are not autograd's, whatever its accuracy."""
    result = _training({name: ENGINE_MISTAKES[name] for name in wrong})
    assert result.points <= most + 1e-9 and (wrong or result.points == 3), result.report()
    assert said is None or said in result.report(), result.report()
