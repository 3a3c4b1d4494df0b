import pytest
import torch
from torch.autograd.functional import jacobian

from unbinned.response._kernels import (
    component_masks,
    joint_kernel,
    pair_difference_projection,
    prior_block_covariance,
    prior_block_diagonal,
)


def _assert_blocks_are_derivatives(full, k, x1, x2):
    """Every (value, gradient) block of ``full`` equals autograd derivatives of k(a, b)."""
    b = 1 + x1.shape[1]
    for i in range(x1.shape[0]):
        for j in range(x2.shape[0]):
            a0, b0 = x1[i], x2[j]
            block = full[b * i : b * i + b, b * j : b * j + b]
            assert torch.isclose(block[0, 0], k(a0, b0))
            torch.testing.assert_close(block[0, 1:], jacobian(lambda y, a0=a0: k(a0, y), b0))
            torch.testing.assert_close(block[1:, 0], jacobian(lambda x, b0=b0: k(x, b0), a0))
            hess = jacobian(lambda y, a0=a0: jacobian(lambda x: k(x, y), a0, create_graph=True), b0)
            torch.testing.assert_close(block[1:, 1:], hess)


@pytest.mark.parametrize("kernel", ["rbf", "matern52"])
def test_joint_kernel_blocks_are_the_derivatives_of_the_kernel(kernel):
    gen = torch.Generator().manual_seed(0)
    x1 = torch.rand(3, 2, dtype=torch.float64, generator=gen)
    x2 = torch.rand(4, 2, dtype=torch.float64, generator=gen)
    ls = torch.tensor([0.3, 0.5], dtype=torch.float64)
    s2 = torch.tensor(1.7, dtype=torch.float64)
    full = joint_kernel(kernel, x1, x2, ls, s2, grad1=True, grad2=True)
    assert full.shape == (9, 12)

    def k(a, b):
        return joint_kernel(kernel, a[None], b[None], ls, s2, grad1=False, grad2=False)[0, 0]

    _assert_blocks_are_derivatives(full, k, x1, x2)


@pytest.mark.parametrize("kernel", ["rbf", "matern52"])
def test_mixed_blocks_and_prior_diagonal(kernel):
    x = torch.rand(5, 3, dtype=torch.float64)
    ls = torch.tensor([0.2, 0.4, 0.9], dtype=torch.float64)
    s2 = torch.tensor(0.8, dtype=torch.float64)
    full = joint_kernel(kernel, x, x, ls, s2, grad1=True, grad2=True)
    values_only = joint_kernel(kernel, x, x, ls, s2, grad1=False, grad2=False)
    torch.testing.assert_close(full[::4, ::4], values_only)
    mixed = joint_kernel(kernel, x, x, ls, s2, grad1=False, grad2=True)
    torch.testing.assert_close(mixed, full[::4, :])
    prior = prior_block_diagonal(kernel, ls, s2, with_gradients=True)
    torch.testing.assert_close(full[:4, :4], torch.diag(prior))
    assert torch.all(torch.linalg.eigvalsh(full + 1e-9 * torch.eye(20)) > -1e-8)


def test_unknown_kernel():
    x = torch.zeros(1, 1, dtype=torch.float64)
    one = torch.ones(1, dtype=torch.float64)
    with pytest.raises(ValueError, match="unknown kernel"):
        joint_kernel("cubic", x, x, one, one[0], grad1=False, grad2=False)


@pytest.mark.parametrize("kernel", ["rbf", "matern52"])
def test_component_kernel_blocks_are_the_derivatives_of_the_sum(kernel):
    # k = Σ_c s_c² h(q_c) with q_c over the masked dimensions: every block, including
    # the gradient-gradient one, must equal the autograd derivatives of the scalar sum
    gen = torch.Generator().manual_seed(1)
    x1 = torch.rand(3, 3, dtype=torch.float64, generator=gen)
    x2 = torch.rand(2, 3, dtype=torch.float64, generator=gen)
    ls = torch.tensor([0.3, 0.5, 0.7], dtype=torch.float64)
    masks = component_masks([(0,), (1, 2), (0, 1, 2)], 3)
    scales = torch.tensor([0.4, 1.1, 0.3], dtype=torch.float64)
    full = joint_kernel(kernel, x1, x2, ls, scales, grad1=True, grad2=True, masks=masks)

    def k(a, b):
        total = torch.zeros((), dtype=torch.float64)
        for c, dims in enumerate([[0], [1, 2], [0, 1, 2]]):
            sub = ls[dims]
            total = (
                total
                + joint_kernel(
                    kernel, a[None, dims], b[None, dims], sub, scales[c], grad1=False, grad2=False
                )[0, 0]
            )
        return total

    _assert_blocks_are_derivatives(full, k, x1, x2)
    # the single-point prior block is the diagonal of the joint covariance
    same = joint_kernel(kernel, x1[:1], x1[:1], ls, scales, grad1=True, grad2=True, masks=masks)
    prior = prior_block_diagonal(kernel, ls, scales, with_gradients=True, masks=masks)
    torch.testing.assert_close(same, torch.diag(prior))


def test_one_full_mask_is_the_plain_kernel_and_scales_must_match():
    x = torch.rand(4, 2, dtype=torch.float64)
    ls = torch.tensor([0.3, 0.6], dtype=torch.float64)
    s2 = torch.tensor(1.3, dtype=torch.float64)
    plain = joint_kernel("rbf", x, x, ls, s2, grad1=True, grad2=True)
    masked = joint_kernel(
        "rbf", x, x, ls, s2.reshape(1), grad1=True, grad2=True, masks=component_masks([(0, 1)], 2)
    )
    torch.testing.assert_close(plain, masked)
    with pytest.raises(ValueError, match="output scales"):
        joint_kernel("rbf", x, x, ls, s2, grad1=False, grad2=False, masks=torch.ones(2, 2))


def test_pair_difference_projection_and_masks():
    proj = pair_difference_projection(3)
    s = 2**-0.5
    expected = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [s, -s, 0], [s, 0, -s], [0, s, -s]]
    torch.testing.assert_close(proj, torch.tensor(expected, dtype=torch.float64))
    masks = component_masks([(0,), (1, 2), (0, 1, 2)], 3, pair_differences=True)
    # a component uses the differences of the pairs within it: (1, 2) is the third pair
    expected_masks = [[1, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 1], [1, 1, 1, 1, 1, 1]]
    torch.testing.assert_close(masks, torch.tensor(expected_masks, dtype=torch.float64))


@pytest.mark.parametrize("kernel", ["rbf", "matern52"])
def test_projected_kernel_blocks_are_the_derivatives_and_prior_is_not_diagonal(kernel):
    # k(x, x') = Σ_c s_c² h(q_c(P(x - x'))): the gradient blocks with respect to x (not z)
    gen = torch.Generator().manual_seed(2)
    x1 = torch.rand(3, 3, dtype=torch.float64, generator=gen)
    x2 = torch.rand(2, 3, dtype=torch.float64, generator=gen)
    proj = pair_difference_projection(3)
    ls = torch.tensor([0.3, 0.5, 0.7, 0.4, 0.9, 0.2], dtype=torch.float64)
    masks = component_masks([(0,), (1, 2), (0, 1, 2)], 3, pair_differences=True)
    scales = torch.tensor([0.4, 1.1, 0.3], dtype=torch.float64)
    kw = {"masks": masks, "projection": proj}
    full = joint_kernel(kernel, x1, x2, ls, scales, grad1=True, grad2=True, **kw)

    def k(a, b):
        return joint_kernel(kernel, a[None], b[None], ls, scales, grad1=False, grad2=False, **kw)[
            0, 0
        ]

    _assert_blocks_are_derivatives(full, k, x1, x2)
    # the value part equals the plain kernel evaluated on z = P x
    values = joint_kernel(
        kernel, x1 @ proj.T, x2 @ proj.T, ls, scales, grad1=False, grad2=False, masks=masks
    )
    torch.testing.assert_close(full[::4, ::4], values)
    same = joint_kernel(kernel, x1[:1], x1[:1], ls, scales, grad1=True, grad2=True, **kw)
    prior = prior_block_covariance(kernel, ls, scales, with_gradients=True, **kw)
    torch.testing.assert_close(same, prior)
    assert prior[1, 2].abs() > 1e-3  # the differences correlate the gradient components
    values_only = prior_block_covariance(kernel, ls, scales, with_gradients=False, **kw)
    torch.testing.assert_close(values_only, scales.sum().reshape(1, 1))
    # without a projection the covariance block is the diagonal one
    torch.testing.assert_close(
        prior_block_covariance(kernel, ls[:3], scales, with_gradients=True, masks=masks[:, :3]),
        torch.diag(
            prior_block_diagonal(kernel, ls[:3], scales, with_gradients=True, masks=masks[:, :3])
        ),
    )
    with pytest.raises(ValueError, match="projection"):
        joint_kernel(kernel, x1, x2, ls[:3], scales, grad1=False, grad2=False, projection=proj)
