import unbinned.ml


def test_public_api_is_deliberate():
    assert sorted(unbinned.ml.__all__) == sorted(
        [
            "FileVariationSource", "VariationPoint", "CallableVariationSource",
            "LeaveOneOutClosure", "leave_one_out_closure", "HeldOutSource", "split_source",
            "HTAUTAU_SHAPE_NUISANCES", "MLP", "BaseVariationSource", "ClassifierNet",
            "ClosureResult", "Design",
            "FeatureTransform", "GaussianToySource", "HTauTauSource", "MissingGroup",
            "OracleComparison", "OracleSource", "PerEventTensors", "PolynomialYieldModel",
            "ProcessClassifier", "ProcessResponse", "Region", "ReliabilityDiagram",
            "ResponseNet", "RunOptions", "ScoreCalibration", "ShapeNuisance", "SurrogateConfig",
            "SurrogateLike", "SurrogateModel", "TrainConfig", "TrainHistory", "VariationSource",
            "YieldClosure",
            "calibrate", "closure_test", "default_design", "fit_score_calibration", "load",
            "monomial_names", "monomials", "monomials_torch",
            "oracle_comparison", "reliability", "resolve_device", "save", "train_classifier",
            "train_response", "train_surrogate", "validation_design", "yield_closure",
        ]
    )  # fmt: skip
    for name in unbinned.ml.__all__:
        assert hasattr(unbinned.ml, name), name


def test_precise_surrogate_settings():
    cfg = unbinned.ml.SurrogateConfig.precise()
    assert cfg.response.hidden == (64, 64)
    assert cfg.response.min_epochs == 30
    assert cfg.max_events_per_point is None
    assert cfg.classifier == unbinned.ml.SurrogateConfig().classifier
