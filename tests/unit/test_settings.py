"""Profiles: extends, dataset overrides, environment overrides, helpful errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.unit.helpers import CONFIG_DIR
from tradewind.data.spec import SpecError
from tradewind.settings import REPO_ROOT, load_settings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    names = ("TRADEWIND_PROFILE", "TRADEWIND_STORAGE_ROOT", "TRADEWIND_STORAGE_CONN_ID", "TRADEWIND_TF_OUTPUTS")
    for name in (*names, "TRADEWIND_IMAGE_TAG"):
        monkeypatch.delenv(name, raising=False)


def _profile(config_dir: Path, name: str, data: dict) -> None:
    (config_dir / "profiles").mkdir(parents=True, exist_ok=True)
    (config_dir / "profiles" / f"{name}.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")


def test_local_profile_keeps_data_in_the_checkout():
    settings = load_settings("local", config_dir=CONFIG_DIR)
    assert settings.profile == "local"
    assert settings.storage.root == f"file://{REPO_ROOT.as_posix()}/data/lake"
    assert settings.storage.conn_id is None
    assert settings.datasets == ("transactions",)
    assert settings.spec("transactions").source.synthetic.rows_per_day == 20000


def test_demo_profile_extends_local_and_overrides_the_dataset():
    settings = load_settings("demo", config_dir=CONFIG_DIR)
    local = load_settings("local", config_dir=CONFIG_DIR)
    assert settings.profile == "demo"
    assert settings.storage == local.storage  # inherited through extends
    assert settings.datasets == ("transactions",)
    spec = settings.spec("transactions")
    assert spec.source.synthetic.rows_per_day == 5000
    assert spec.source.synthetic.seed == 7  # the rest of the spec is untouched
    assert settings.demo["dataset"] == "transactions"
    assert [s.name for s in settings.specs()] == ["transactions"]


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(SpecError, match="profile 'staging' not found") as err:
        load_settings("staging", config_dir=CONFIG_DIR)
    assert "known profiles: aws, compose, demo, gcp, local" in str(err.value)


def test_profile_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("TRADEWIND_PROFILE", "demo")
    assert load_settings(config_dir=CONFIG_DIR).profile == "demo"


def test_storage_root_and_conn_id_env_overrides(monkeypatch):
    monkeypatch.setenv("TRADEWIND_STORAGE_ROOT", "s3://bucket/lake")
    monkeypatch.setenv("TRADEWIND_STORAGE_CONN_ID", "aws_lake")
    settings = load_settings("demo", config_dir=CONFIG_DIR)
    assert settings.storage.root == "s3://bucket/lake"
    assert settings.storage.conn_id == "aws_lake"
    assert settings.asset_uri("raw", "transactions") == "s3://bucket/lake/raw/transactions"


def test_asset_uri_has_no_double_slash(monkeypatch):
    monkeypatch.setenv("TRADEWIND_STORAGE_ROOT", "file:///tmp/lake/")
    assert load_settings("local", config_dir=CONFIG_DIR).asset_uri("validated", "x") == "file:///tmp/lake/validated/x"


def test_profile_cycle_is_reported(tmp_path):
    _profile(tmp_path, "a", {"extends": "b", "storage": {"root": "file:///x"}})
    _profile(tmp_path, "b", {"extends": "a"})
    with pytest.raises(SpecError, match=r"profile cycle a -> b -> a"):
        load_settings("a", config_dir=tmp_path)


def test_missing_storage_root_is_reported(tmp_path):
    _profile(tmp_path, "bare", {"datasets": ["transactions"]})
    with pytest.raises(SpecError, match=r"bare\.yaml: storage\.root: missing"):
        load_settings("bare", config_dir=tmp_path)


def test_datasets_must_be_a_list_of_names(tmp_path):
    _profile(tmp_path, "odd", {"storage": {"root": "file:///x"}, "datasets": "transactions"})
    with pytest.raises(SpecError, match="datasets: must be a list"):
        load_settings("odd", config_dir=tmp_path)


def test_a_bad_override_names_the_spec_file(tmp_path):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "transactions.yaml").write_bytes(
        (CONFIG_DIR / "datasets" / "transactions.yaml").read_bytes()
    )
    _profile(
        tmp_path,
        "tiny",
        {
            "storage": {"root": "file:///x"},
            "datasets": ["transactions"],
            "dataset_overrides": {"transactions": {"source": {"options": {"rows_per_day": 0}}}},
        },
    )
    settings = load_settings("tiny", config_dir=tmp_path)
    with pytest.raises(SpecError, match=r"source\.options\.rows_per_day") as err:
        settings.spec("transactions")
    assert str(tmp_path / "datasets" / "transactions.yaml") in str(err.value)


def test_local_profile_trains_locally_on_the_default_gpu_profile():
    training = load_settings("local", config_dir=CONFIG_DIR).training
    assert (training.backend, training.backends, training.gpu_profile) == ("local", ("local",), "cpu-small")


@pytest.mark.parametrize(
    ("training", "message"),
    [
        ({"backend": "slurm"}, "training.backend: 'slurm' is not a backend (known: local, kubernetes)"),
        ({"backend": "kubernetes", "backends": ["local"]}, "'kubernetes' is not among training.backends"),
        ({"backends": ["local", "ray"]}, "training.backends[1]: 'ray' is not a backend"),
        ({"backends": []}, "training.backends: must be a non-empty list"),
        ({"gpu_profiles": "cpu-small"}, "training: unknown key(s) gpu_profiles"),
        (["local"], "training: must be a mapping"),
    ],
)
def test_a_bad_training_section_names_the_key(tmp_path, training, message):
    config = tmp_path / "config"
    _profile(config, "custom", {"storage": {"root": "file:///tmp/lake"}, "training": training})
    with pytest.raises(SpecError) as err:
        load_settings("custom", config_dir=config)
    assert message in str(err.value)
    assert "custom.yaml" in str(err.value)


def test_local_profile_serves_with_the_local_model_server():
    serving = load_settings("local", config_dir=CONFIG_DIR).serving
    assert (serving.target, serving.conn_id) == ("local", "tradewind_serving_default")


@pytest.mark.parametrize(
    ("serving", "message"),
    [
        ({"target": "seldon"}, "serving.target: 'seldon' is not a target (known: local, kserve)"),
        ({"conn": "x"}, "serving: unknown key(s) conn"),
        ("kserve", "serving: must be a mapping"),
    ],
)
def test_a_bad_serving_section_names_the_key(tmp_path, serving, message):
    config = tmp_path / "config"
    _profile(config, "custom", {"storage": {"root": "file:///tmp/lake"}, "serving": serving})
    with pytest.raises(SpecError) as err:
        load_settings("custom", config_dir=config)
    assert message in str(err.value)


# -- Terraform outputs, MLflow and the image registry (the cloud profiles) -----------------------


def _tf_profile(config: Path) -> None:
    _profile(
        config,
        "cloud",
        {
            "storage": {"root": "s3://${tf:lake_bucket}/lake", "conn_id": "aws_default"},
            "mlflow": {"tracking_uri": "${tf:mlflow_tracking_uri}"},
            "training": {"image_registry": "${tf:image_registry}"},
            "serving": {"target": "kserve", "prometheus_url": "${tf:prometheus_url}"},
        },
    )


def test_terraform_outputs_fill_a_profile_from_beside_it_or_the_named_file(tmp_path, monkeypatch):
    import json

    config = tmp_path / "config"
    _tf_profile(config)
    outputs = {  # the shape of `terraform output -json`
        "lake_bucket": {"value": "acme-lake", "type": "string", "sensitive": False},
        "mlflow_tracking_uri": {"value": "http://mlflow.ml:5000"},
        "image_registry": {"value": "1234.dkr.ecr.eu-west-1.amazonaws.com/tradewind"},
        "prometheus_url": {"value": "http://prometheus.monitoring:9090"},
    }
    (config / "profiles" / "cloud.tfoutputs.json").write_text(json.dumps(outputs))
    settings = load_settings("cloud", config_dir=config)
    assert settings.storage.root == "s3://acme-lake/lake"
    assert settings.mlflow.tracking_uri == "http://mlflow.ml:5000"
    assert settings.serving.prometheus_url == "http://prometheus.monitoring:9090"
    registry = "1234.dkr.ecr.eu-west-1.amazonaws.com/tradewind"
    assert settings.training.image("tradewind/trainer:cuda") == f"{registry}/trainer:cuda"
    assert settings.training.image("ghcr.io/acme/trainer:1.2") == "ghcr.io/acme/trainer:1.2"  # already qualified
    monkeypatch.setenv("TRADEWIND_IMAGE_TAG", "3f2a9c1")  # the release pushed (registry tags are immutable)
    tagged = load_settings("cloud", config_dir=config).training
    assert tagged.image("tradewind/trainer:cuda") == f"{registry}/trainer:cuda-3f2a9c1"
    monkeypatch.delenv("TRADEWIND_IMAGE_TAG")
    assert (
        load_settings("local", config_dir=CONFIG_DIR).training.image("tradewind/trainer:cpu") == "tradewind/trainer:cpu"
    )

    elsewhere = tmp_path / "outputs.json"  # a plain name -> value mapping works too
    elsewhere.write_text(json.dumps({k: v["value"] for k, v in outputs.items()} | {"lake_bucket": "other"}))
    monkeypatch.setenv("TRADEWIND_TF_OUTPUTS", str(elsewhere))
    assert load_settings("cloud", config_dir=config).storage.root == "s3://other/lake"


def test_a_missing_terraform_output_names_the_key_the_output_and_the_fix(tmp_path):
    import json

    config = tmp_path / "config"
    _tf_profile(config)
    with pytest.raises(SpecError) as err:
        load_settings("cloud", config_dir=config)
    assert "storage.root: needs the Terraform output 'lake_bucket'" in str(err.value)
    assert "cloud.tfoutputs.json does not exist" in str(err.value)
    assert "terraform -chdir=terraform/envs/<env> output -json" in str(err.value)

    # Every missing output is named at once, with the key that needs it.
    assert "mlflow.tracking_uri: needs the Terraform output 'mlflow_tracking_uri'" in str(err.value)
    assert "serving.prometheus_url: needs the Terraform output 'prometheus_url'" in str(err.value)

    (config / "profiles" / "cloud.tfoutputs.json").write_text(json.dumps({"lake_bucket": {"value": "b"}}))
    with pytest.raises(SpecError, match=r"needs the Terraform output 'mlflow_tracking_uri'.*lacks them"):
        load_settings("cloud", config_dir=config)
    (config / "profiles" / "cloud.tfoutputs.json").write_text("{not json")
    with pytest.raises(SpecError, match="cannot read the Terraform outputs"):
        load_settings("cloud", config_dir=config)


def test_the_profiles_mlflow_server_is_used_unless_the_environment_says_otherwise(monkeypatch, tmp_path):
    from tradewind.registry.store import default_tracking_uri

    config = tmp_path / "config"
    _profile(
        config, "remote", {"storage": {"root": "file:///tmp/lake"}, "mlflow": {"tracking_uri": "http://mlflow.ml:5000"}}
    )
    _profile(config, "embedded", {"storage": {"root": "file:///tmp/lake"}})
    remote = load_settings("remote", config_dir=config)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert remote.tracking_uri() == "http://mlflow.ml:5000"
    assert load_settings("embedded", config_dir=config).tracking_uri() == default_tracking_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://other:5000")
    assert remote.tracking_uri() == "http://other:5000"
    assert remote.tracking_uri("sqlite:///x.db") == "sqlite:///x.db"


def test_a_prometheus_url_must_be_http(tmp_path):
    config = tmp_path / "config"
    _profile(config, "custom", {"storage": {"root": "file:///tmp/lake"}, "serving": {"prometheus_url": "prom:9090"}})
    with pytest.raises(SpecError, match=r"serving\.prometheus_url: must be an http"):
        load_settings("custom", config_dir=config)


# -- the other config files, reached through the settings ------------------------------------------


def test_the_config_files_are_read_once_through_the_settings():
    settings = load_settings("local", config_dir=CONFIG_DIR)
    assert settings.gate().primary_metric == "pr_auc"
    assert settings.serving_config().model_name == "transactions"
    assert "cpu-small" in settings.gpu_profiles()
    assert settings.canary().stages[-1] == 100
    for accessor in (settings.gate, settings.serving_config, settings.gpu_profiles, settings.canary):
        assert accessor() is accessor()  # read once


def test_the_gate_carries_the_profiles_promotion_overrides():
    demo, local = load_settings("demo", config_dir=CONFIG_DIR), load_settings("local", config_dir=CONFIG_DIR)
    assert demo.gate().retrain.cooldown_minutes == 1  # demo.yaml's promotion: section
    assert local.gate().retrain.cooldown_minutes == 60
    assert demo.gate().retrain.max_retrains_per_day == local.gate().retrain.max_retrains_per_day


def test_a_bad_promotion_override_names_the_file_and_the_key(tmp_path):
    config = tmp_path / "config"
    (config / "profiles").mkdir(parents=True)
    (config / "promotion.yaml").write_bytes((CONFIG_DIR / "promotion.yaml").read_bytes())
    _profile(config, "custom", {"storage": {"root": "file:///tmp/lake"}, "promotion": {"retrain": {"cooldown": 1}}})
    with pytest.raises(SpecError) as err:
        load_settings("custom", config_dir=config).gate()
    assert str(config / "promotion.yaml") in str(err.value)
    assert "retrain.cooldown: Extra inputs are not permitted" in str(err.value)


def test_the_config_paths_live_in_the_config_base():
    import tradewind.config
    import tradewind.settings

    assert tradewind.settings.REPO_ROOT == tradewind.config.REPO_ROOT
    assert tradewind.settings.CONFIG_DIR == tradewind.config.CONFIG_DIR


def test_a_profile_that_is_not_yaml_names_the_file(tmp_path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "broken.yaml").write_text("storage: [\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"broken\.yaml: not valid YAML"):
        load_settings("broken", config_dir=tmp_path)
