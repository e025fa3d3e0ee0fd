"""GAN loss terms on known discriminator outputs."""

from __future__ import annotations

import math

import pytest
import torch

from ganpat.losses import fake_term, generator_term, real_term


def test_bce_logit_terms():
    logits = torch.tensor([0.0, 2.0])
    assert real_term(logits, "bce", False).tolist() == pytest.approx([math.log(2), math.log(1 + math.exp(-2))])
    assert fake_term(logits, "bce", False).tolist() == pytest.approx([math.log(2), math.log(1 + math.exp(2))])
    assert generator_term(logits, "bce", False).tolist() == pytest.approx(real_term(logits, "bce", False).tolist())


def test_bce_probability_terms_match_logit_terms():
    logits = torch.tensor([-1.5, 0.3, 2.0])
    probabilities = torch.sigmoid(logits)
    for term in (real_term, fake_term, generator_term):
        expected = term(logits, "bce", False)
        assert term(probabilities, "bce", True).tolist() == pytest.approx(expected.tolist(), rel=1e-5)


def test_hinge_terms():
    scores = torch.tensor([-2.0, 0.5, 3.0])
    assert real_term(scores, "hinge", False).tolist() == [3.0, 0.5, 0.0]
    assert fake_term(scores, "hinge", False).tolist() == [0.0, 1.5, 4.0]
    assert generator_term(scores, "hinge", False).tolist() == [2.0, -0.5, -3.0]
