import pytest

from unbinned.theory import lo_nlo_pulls
from unbinned.theory.plot import plot_pull_distributions


def test_pull_distribution_plot():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    artists = plot_pull_distributions(lo_nlo_pulls(), ax=ax)
    assert len(artists) == 3
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("53%" in s for s in labels)
    assert any("21%" in s for s in labels)
    plt.close(fig)
