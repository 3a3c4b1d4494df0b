import numpy as np
import pytest
import torch

from unbinned.exceptions import ConfigError, DataError
from unbinned.theory import (
    AsymmetricLogNormalConstraint,
    constraint_from_envelope,
    constraint_from_reference,
    per_particle_reference,
    scale_envelope,
)


def test_rate_factor_at_the_anchor_points_and_beyond():
    c = AsymmetricLogNormalConstraint("th", kappa_up=1.44, kappa_down=0.72)
    np.testing.assert_allclose(c.rate_factor([-1.0, 0.0, 1.0]), [0.72, 1.0, 1.44])
    np.testing.assert_allclose(c.rate_factor([2.0, -2.0]), [1.44**2, 0.72**2])
    np.testing.assert_allclose(c.penalty([0.0, 1.5, -2.0]), [0.0, 2.25, 4.0])


def test_log_rate_is_twice_continuously_differentiable():
    c = AsymmetricLogNormalConstraint("th", kappa_up=1.3, kappa_down=0.85)
    h = 1e-4
    for x in (-1.0, 0.0, 1.0):
        left = c.log_rate(np.array([x - 2 * h, x - h, x]))
        right = c.log_rate(np.array([x, x + h, x + 2 * h]))
        d1_left, d1_right = (left[2] - left[1]) / h, (right[1] - right[0]) / h
        d2_left = (left[2] - 2 * left[1] + left[0]) / h**2
        d2_right = (right[2] - 2 * right[1] + right[0]) / h**2
        assert d1_left == pytest.approx(d1_right, abs=1e-3)
        assert d2_left == pytest.approx(d2_right, abs=2e-2)


def test_torch_version_matches_and_has_gradients():
    c = AsymmetricLogNormalConstraint("th", kappa_up=1.3, kappa_down=0.85)
    theta = torch.tensor(
        [-2.0, -1.0, -0.3, 0.0, 0.4, 1.0, 2.5], dtype=torch.float64, requires_grad=True
    )
    np.testing.assert_allclose(
        c.rate_factor_torch(theta).detach().numpy(),
        c.rate_factor(theta.detach().numpy()),
        rtol=1e-12,
    )
    assert torch.autograd.gradcheck(c.rate_factor_torch, (theta,))
    assert torch.autograd.gradgradcheck(c.rate_factor_torch, (theta,))
    np.testing.assert_allclose(c.penalty_torch(theta).detach().numpy(), theta.detach().numpy() ** 2)
    (g,) = torch.autograd.grad(c.penalty_torch(theta).sum(), theta)
    np.testing.assert_allclose(g.numpy(), 2 * theta.detach().numpy())


def test_constraint_from_the_reference_scheme():
    ref = per_particle_reference()
    c = constraint_from_reference("theory_wz", 3)
    assert c.name == "theory_wz"
    assert c.kappa_up == pytest.approx(1 + 3 * ref.delta_up)
    assert c.kappa_down == pytest.approx(1 - 3 * ref.delta_down)
    assert c.rate_factor(1.0) == pytest.approx(1.0 + 3 * 0.147, abs=2e-3)
    assert c.rate_factor(-1.0) == pytest.approx(1.0 - 3 * 0.0934, abs=2e-4)
    with pytest.raises(ConfigError, match="n_particles=11"):
        constraint_from_reference("x", 11)
    with pytest.raises(ConfigError, match="kappa_down"):
        AsymmetricLogNormalConstraint("x", kappa_up=1.1, kappa_down=-0.1)
    with pytest.raises(TypeError, match="name"):
        AsymmetricLogNormalConstraint("", kappa_up=1.1, kappa_down=0.9)


def test_scale_envelope_and_its_constraint():
    variations = {
        (1, 1): 10.0,
        (2, 1): 9.0,
        (0.5, 1): 11.5,
        (1, 2): 9.5,
        (1, 0.5): 10.8,
        (2, 2): 8.5,
        (0.5, 0.5): 12.0,
        (0.5, 2): 14.0,
        (2, 0.5): 7.0,
    }
    seven = scale_envelope(variations)
    assert seven.n_variations == 7
    assert (seven.rel_up, seven.rel_down) == pytest.approx((0.2, 0.15))
    nine = scale_envelope([(kr, kf, s) for (kr, kf), s in variations.items()], seven_point=False)
    assert nine.n_variations == 9
    assert (nine.delta_up, nine.delta_down) == pytest.approx((4.0, 3.0))
    c = constraint_from_envelope("scale", seven)
    assert (c.kappa_up, c.kappa_down) == pytest.approx((1.2, 0.85))
    assert "+20%" in repr(seven)
    with pytest.raises(DataError, match="central"):
        scale_envelope({(2, 2): 1.0})
    with pytest.raises(DataError, match="> 0"):
        scale_envelope({(1, 1): 1.0, (2, 2): -1.0})
    with pytest.raises(ConfigError, match="bracket"):
        constraint_from_envelope("x", scale_envelope({(1, 1): 1.0, (2, 2): 1.1}))
