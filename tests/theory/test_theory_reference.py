import numpy as np
import pandas as pd
import pytest

import unbinned.theory
from unbinned.exceptions import ConfigError, DataError
from unbinned.theory import (
    lo_nlo_pulls,
    load_table,
    outlier_fraction,
    per_particle_reference,
    pull,
    reference_uncertainty,
    table_source,
)


def test_public_api_is_deliberate():
    assert sorted(unbinned.theory.__all__) == [
        "AsymmetricLogNormalConstraint",
        "PullTable",
        "ReferenceUncertainty",
        "ScaleEnvelope",
        "constraint_from_envelope",
        "constraint_from_reference",
        "lo_nlo_pulls",
        "load_table",
        "outlier_fraction",
        "per_particle_reference",
        "pull",
        "reference_uncertainty",
        "scale_envelope",
        "table_source",
    ]


def test_package_data_with_sources():
    qcd = load_table("qcd_reference_processes")
    assert len(qcd) == 11
    assert set(qcd["n_particles"]) == {2, 3, 4}
    assert len(load_table("lo_nlo_pulls")) == 19
    for name in ("qcd_reference_processes", "lo_nlo_pulls"):
        src = table_source(name)
        assert "arXiv:2210.15167" in src
        assert "MadGraph5_aMC@NLO" in src
    with pytest.raises(ValueError, match="unknown theory table"):
        load_table("nope")


def test_per_particle_averages_are_reproduced():
    ref = per_particle_reference()
    assert ref.delta_up == pytest.approx(0.147, abs=5e-4)
    assert ref.delta_down == pytest.approx(0.0934, abs=5e-5)
    assert len(ref.processes) == 11
    assert "+14.7%" in repr(ref)


def test_reference_uncertainty_for_any_process():
    ref = per_particle_reference()
    up, down = reference_uncertainty(3, sigma0=2.0)
    assert up == pytest.approx(3 * ref.delta_up * 2.0)
    assert down == pytest.approx(3 * ref.delta_down * 2.0)
    custom = per_particle_reference(
        pd.DataFrame(
            {
                "process": ["a", "b"],
                "n_particles": [2, 4],
                "rel_up": [0.2, 0.8],
                "rel_down": [0.1, 0.2],
            }
        )
    )
    assert custom.delta_up == pytest.approx(0.15)
    assert custom.delta_down == pytest.approx(0.05)
    with pytest.raises(TypeError, match="n_particles"):
        reference_uncertainty(2.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="n_particles"):
        reference_uncertainty(0)


def test_pulls_of_both_schemes_are_reproduced():
    table = lo_nlo_pulls()
    frame = load_table("lo_nlo_pulls")
    # reference-scheme uncertainty n·δ+ as quoted
    np.testing.assert_allclose(table.rel_ref, frame["rel_ref_unc"], rtol=2e-3)
    # reference-scheme pulls recomputed from the scale-scheme ones (and δ+ of the QCD table)
    np.testing.assert_allclose(table.pull_ref, frame["pull_ref"], rtol=0.01, atol=0.006)
    # scale-scheme pulls recomputed from the reference-scheme ones
    shift_from_ref = frame["pull_ref"] * frame["rel_ref_unc"]
    np.testing.assert_allclose(
        shift_from_ref / frame["rel_scale_unc"], frame["pull_scale"], rtol=0.01, atol=0.009
    )
    np.testing.assert_allclose(table.pull_scale, frame["pull_scale"], rtol=1e-12)
    higgs = table.processes.index("p p > h")
    assert table.pull_ref[higgs] == pytest.approx(7.15, abs=0.01)
    assert table.to_frame().shape == (19, 9)
    assert "<table" in table._repr_html_()


def test_outlier_fractions():
    table = lo_nlo_pulls()
    assert table.outlier_fraction("scale") == pytest.approx(10 / 19)
    assert table.outlier_fraction("reference") == pytest.approx(4 / 19)
    assert table.outlier_fraction("reference", threshold=1.0) < table.outlier_fraction(
        "scale", threshold=1.0
    )
    sub = lo_nlo_pulls(processes=["p p > z", "p p > h"])
    assert sub.processes == ("p p > z", "p p > h")
    with pytest.raises(DataError, match="unknown processes"):
        lo_nlo_pulls(processes=["p p > gravitons"])
    with pytest.raises(ConfigError, match="scheme"):
        table.pulls("pdf")


def test_pull_function():
    t = pull([11.0, 9.0], [10.0, 10.0], [2.0, 2.0], [0.5, 0.5])
    np.testing.assert_allclose(t, [0.5, -2.0])
    assert outlier_fraction(t, 1.0) == 0.5
    with pytest.raises(DataError, match="> 0"):
        pull(1.0, 1.0, 0.0, 1.0)
    with pytest.raises(DataError, match="no pulls"):
        outlier_fraction([])
