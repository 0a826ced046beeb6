"""What is special to TP 12: a training that still classifies with a wrong function of the TP loses its points
through the gradients it leaves (`gradients_finaux`), and the built cases expose the structures the mistakes
need on every draw."""


import pytest
import torch
import torch.nn.functional as F

from autograder.tp12 import checks
from conftest import solution_sources, training_verdict
from tp12_catalogue import WRONG


def _training(source: str):
    """The training's verdict with this one answer (the function it defines) instead of the reference's."""
    return training_verdict("tp12", {source.split("(")[0].removeprefix("def "): source})


def _mistake(fragment: str) -> str:
    return next(source for _, source, message in WRONG if fragment in message)


GRADIENTS = "ne sont pas ceux de torch.autograd"


@pytest.mark.parametrize("fragment", [  # mistakes with which the network still reaches 95 % or more
    "argmax donne la position dans la fenêtre", "le gradient est copié sur toute la fenêtre", "dl_b est une moyenne",
    "la dérivée de ReLU est oubliée"])
def test_a_training_that_classifies_with_wrong_gradients_loses_its_points(fragment):
    result = _training(_mistake(fragment))
    assert result.points <= 1 + 1e-9 and GRADIENTS in result.report(), result.report()


def test_the_reference_training_gets_its_points():
    result = _training(solution_sources("tp12")["cnn_forward"])
    assert result.points == 3, result.report()


def test_every_draw_has_the_structures_the_mistakes_need():
    """The first convolution's output is K × K; one has C = K with a 1×1 kernel, one C = K with a 3×3 kernel,
    and a kernel with different sides; the gradients' first case is C = K, 1×1; every CNN has a channel
    whose windows are all zeros after ReLU; pooling inputs have no tie in a window."""
    for seed in range(200):
        gen = torch.Generator().manual_seed(seed)
        first = checks.CONV2D_FORWARD.cases(gen)[0].inputs
        assert F.conv2d(first["x"], first["w"]).shape[2:] == (len(first["b"]),) * 2
        gradient = checks.CONV2D_BACKWARD.cases(gen)[0].inputs
        assert gradient["w"].shape[:2] == (gradient["x"].shape[1],) * 2 and gradient["w"].shape[2:] == (1, 1)
        for case in checks.CNN_FORWARD.cases(gen):
            cache = case.inputs["cache"]
            assert (cache["s1"][:, 0] < 0).all() and (cache["x1"][:, 0] == 0).all(), case.label
        for case in checks.MAXPOOL2_FORWARD.cases(gen):
            x = case.inputs["x"]
            n, c, h, w = x.shape
            windows = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(n, c, -1, 4)
            assert (windows.sort(dim=-1).values.diff(dim=-1) > 0).all(), case.label
    sizes = [case.inputs["w"].shape for case in checks.CONV2D_FORWARD.cases(torch.Generator().manual_seed(0))]
    assert any(s[0] == s[1] and s[2:] == (3, 3) for s in sizes) and any(s[2] != s[3] for s in sizes)
