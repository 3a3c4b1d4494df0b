"""The option groups of build_analysis: checked when made, recorded completely, read back."""

from __future__ import annotations

import json

import pytest

from unbinned.analysis import (
    AnalysisOptions,
    CalibrationOptions,
    IntegrationOptions,
    TemplateOptions,
)
from unbinned.exceptions import ConfigError


def test_defaults_are_those_of_build_analysis():
    opts = AnalysisOptions()
    assert opts.templates == TemplateOptions(bins=10, powered=False, reach="auto")
    assert opts.integration == IntegrationOptions(mode="events", keep=0.05)
    assert opts.calibration == CalibrationOptions(
        calibrate=False, calibrate_odds=False, calibration_events=300_000,
        recalibrate_classifier="auto",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: CalibrationOptions(calibrate_odds=True), "calibrate_odds needs calibrate=True"),
        (lambda: CalibrationOptions(calibration_events=0), "calibration_events"),
        (lambda: CalibrationOptions(recalibrate_classifier="yes"), "true, false or 'auto'"),
        (lambda: CalibrationOptions(recalibrate_classifier=1), "true, false or 'auto'"),
        (lambda: IntegrationOptions(mode="histogram"), "expected 'events' or 'moments'"),
        (lambda: IntegrationOptions(keep=1.5), "keep"),
        (lambda: TemplateOptions(bins=-1), "non-negative integer"),
        (lambda: TemplateOptions(reach="far"), "expected 'auto', a mapping"),
        (lambda: TemplateOptions(reach={"tes": "x"}), "expected a finite number"),
        (lambda: TemplateOptions(reach={"tes": float("inf")}), "expected a finite number"),
    ],
)
def test_options_refuse_bad_values_when_made(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_options_round_trip_through_json():
    opts = AnalysisOptions(
        TemplateOptions(bins=4, powered=True, reach={"soft_met": 5.0}),
        IntegrationOptions(mode="moments", keep=0.0),
        CalibrationOptions(calibrate=True, calibrate_odds=True, calibration_events=None,
                           recalibrate_classifier=True),
    )  # fmt: skip
    again = AnalysisOptions.from_dict(json.loads(json.dumps(opts.to_dict())))
    assert again == opts
    for reach in ("auto", None):
        t = TemplateOptions(reach=reach)
        assert TemplateOptions.from_dict(t.to_dict()) == t
    assert AnalysisOptions.from_dict({}) == AnalysisOptions()
    with pytest.raises(ConfigError, match="unknown key"):
        CalibrationOptions.from_dict({"odds": True})
    with pytest.raises(ConfigError, match="unknown group"):
        AnalysisOptions.from_dict({"training": {}})


def test_metadata_without_options_gives_what_it_records():
    old = {"bins": 4, "integration": "moments", "score_calibration": True,
           "classifier_recalibrated_events": 1000}  # fmt: skip
    opts = AnalysisOptions.from_metadata(old)
    assert opts.templates == TemplateOptions(bins=4)
    assert opts.integration == IntegrationOptions(mode="moments")
    assert opts.calibration == CalibrationOptions(calibrate=True, recalibrate_classifier=True)
    # files from before the options: they recorded no recalibration, so none was made
    assert AnalysisOptions.from_metadata({}) == AnalysisOptions(
        calibration=CalibrationOptions(recalibrate_classifier=False)
    )
    recorded = {"options": AnalysisOptions(TemplateOptions(bins=3)).to_dict(), "bins": 99}
    assert AnalysisOptions.from_metadata(recorded).templates.bins == 3
