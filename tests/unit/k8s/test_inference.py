"""The KServe InferenceService and its canary patches: every spec and every patched result passes the CRD schema."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tradewind.k8s.inference import (
    API_VERSION,
    DEFAULT_RUNTIME,
    GROUP,
    KIND,
    MODEL_FORMAT,
    MODEL_VERSION_ANNOTATION,
    MODEL_VERSION_ENV,
    NAME_MAX_LENGTH,
    PLURAL,
    SERVING_UID,
    VERSION,
    apply_merge_patch,
    canary_percent_patch,
    inference_service_spec,
    promote_patch,
    rollback_patch,
    rollout_state,
    start_canary_patch,
)

pytestmark = pytest.mark.unit

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "fixtures" / "kserve" / "inferenceservice-v1beta1.schema.json"
CHAMPION_URI = "s3://tradewind-mlflow/artifacts/1/3f2a/artifacts/model"
CHALLENGER_URI = "s3://tradewind-mlflow/artifacts/1/9c4d/artifacts/model"

Validate = Callable[[dict[str, Any]], str]


def _strict(node: Any) -> Any:
    """``additionalProperties: false`` wherever the CRD lists properties, as strict field validation does.

    A CRD schema leaves unknown fields to the API server, which prunes them silently; a test that
    let them through would pass a misspelt key. Nodes marked ``x-kubernetes-preserve-unknown-fields``
    stay open, as on the server.
    """
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("int32")
def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@_FORMATS.checks("int64")
def _int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


@pytest.fixture(scope="module")
def crd_schema() -> dict[str, Any]:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return schema


@pytest.fixture(scope="module")
def validator(crd_schema: dict[str, Any]) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(_strict(crd_schema), format_checker=_FORMATS)


@pytest.fixture(scope="module")
def validate_isvc(validator: jsonschema.Draft7Validator) -> Validate:
    def check(doc: dict[str, Any]) -> str:
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        if errors:
            lines = [f"{'.'.join(str(p) for p in e.path) or '<root>'}: {e.message}" for e in errors]
            pytest.fail("InferenceService does not match the CRD schema:\n" + "\n".join(lines))
        return doc["metadata"]["name"]

    return check


def _spec(**kwargs: Any) -> dict[str, Any]:
    return inference_service_spec("transactions", storage_uri=kwargs.pop("storage_uri", CHAMPION_URI), **kwargs)


def _errors(validator: jsonschema.Draft7Validator, doc: dict[str, Any]) -> list[str]:
    return [e.message for e in validator.iter_errors(doc)]


# --------------------------------------------------------------------------------------------
# The fixture and the guard
# --------------------------------------------------------------------------------------------


def test_the_fixture_is_the_v1beta1_schema_with_its_source_recorded(crd_schema: dict[str, Any]) -> None:
    assert "047112c8916ef527b7a4b4090effdb1cbc5be29c" in crd_schema["$comment"]
    predictor = crd_schema["properties"]["spec"]["properties"]["predictor"]["properties"]
    assert predictor["canaryTrafficPercent"] == {"format": "int64", "type": "integer"}
    assert crd_schema["properties"]["spec"]["required"] == ["predictor"]
    readme = (SCHEMA_PATH.parent / "README.md").read_text(encoding="utf-8")
    assert "kserve/kserve" in readme
    assert "047112c8916ef527b7a4b4090effdb1cbc5be29c" in readme


def test_strict_validation_catches_a_misspelt_key(validator: jsonschema.Draft7Validator) -> None:
    """Guard for the guard: without strictness, a misspelt key would be pruned by the server in silence."""
    doc = _spec(canary_traffic_percent=10)
    predictor = doc["spec"]["predictor"]
    predictor["canaryTraficPercent"] = predictor.pop("canaryTrafficPercent")
    assert any("canaryTraficPercent" in m for m in _errors(validator, doc))
    doc = _spec()
    doc["spec"]["predictor"]["model"]["storageURI"] = doc["spec"]["predictor"]["model"].pop("storageUri")
    assert any("storageURI" in m for m in _errors(validator, doc))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "predictor", "canaryTrafficPercent"), "10"),
        (("spec", "predictor", "minReplicas"), 2**31),
        (("spec", "predictor", "model", "resources", "limits", "memory"), "2 GB"),
        (("spec", "predictor", "model", "securityContext", "runAsNonRoot"), "yes"),
        (("spec", "predictor", "model", "modelFormat"), {"version": "2"}),
    ],
)
def test_the_schema_catches_wrong_types_and_values(
    validator: jsonschema.Draft7Validator, path: tuple[str, ...], value: Any
) -> None:
    doc = _spec()
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert _errors(validator, doc)


# --------------------------------------------------------------------------------------------
# The InferenceService
# --------------------------------------------------------------------------------------------


SPEC_VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "canary": {"canary_traffic_percent": 10},
    "everything": {
        "namespace": "serving",
        "runtime": "kserve-mlserver",
        "image": "ghcr.io/tradewind/serving:1.2.3",
        "model_format_version": "2",
        "protocol_version": "v1",
        "canary_traffic_percent": 0,
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "4", "memory": "4Gi"}},
        "min_replicas": 0,
        "max_replicas": 10,
        "service_account": "tradewind-serving",
        "env": {"MLFLOW_TRACKING_URI": "http://mlflow:5000", "TRADEWIND_SERVING_ADMIN_TOKEN": "unused"},
        "labels": {"team": "risk"},
        "model_version": "4",
        "deployment_mode": "Serverless",
    },
    "no-runtime": {"runtime": None},
    "gs-and-requests-only": {"storage_uri": "gs://bucket/model", "resources": {"requests": {"cpu": "250m"}}},
}


@pytest.mark.parametrize("variant", SPEC_VARIANTS)
def test_every_spec_validates(variant: str, validate_isvc: Validate, validate_k8s: Validate) -> None:
    doc = _spec(**SPEC_VARIANTS[variant])
    assert validate_isvc(doc) == "transactions"
    # metadata is "type: object" in the CRD: the Kubernetes ObjectMeta schema checks it instead.
    validate_k8s({"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc["metadata"]})
    json.dumps(doc)


def test_the_fields_are_where_kserve_reads_them() -> None:
    doc = _spec(
        canary_traffic_percent=10,
        resources={"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "3Gi"}},
        service_account="tradewind-serving",
        env={"MLFLOW_TRACKING_URI": "http://mlflow:5000"},
        model_version="7",
        min_replicas=2,
        max_replicas=5,
    )
    assert (doc["apiVersion"], doc["kind"]) == (API_VERSION, KIND) == ("serving.kserve.io/v1beta1", "InferenceService")
    assert (GROUP, VERSION, PLURAL) == ("serving.kserve.io", "v1beta1", "inferenceservices")
    predictor = doc["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 5)
    assert predictor["serviceAccountName"] == "tradewind-serving"
    assert predictor["annotations"] == {MODEL_VERSION_ANNOTATION: "7"}
    model = predictor["model"]
    assert model["modelFormat"] == {"name": MODEL_FORMAT} == {"name": "mlflow"}
    assert model["runtime"] == DEFAULT_RUNTIME
    assert model["storageUri"] == CHAMPION_URI
    assert model["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "3Gi"}}
    # The version the revision serves reaches the single-model server through its env.
    assert model["env"] == [
        {"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow:5000"},
        {"name": MODEL_VERSION_ENV, "value": "7"},
    ]


def test_every_patch_that_changes_the_model_resends_the_whole_env_with_its_version(validate_isvc: Validate) -> None:
    env = {"TRADEWIND_MODEL_NAME": "transactions", "TRADEWIND_PROFILE": "aws"}
    created = _spec(env=env, model_version="3")
    started = apply_merge_patch(created, start_canary_patch(CHALLENGER_URI, 10, model_version="4", env=env))
    validate_isvc(started)
    entries = {e["name"]: e["value"] for e in started["spec"]["predictor"]["model"]["env"]}
    assert entries == {**env, MODEL_VERSION_ENV: "4"}  # a merge patch replaces the list: nothing lost
    back = apply_merge_patch(started, rollback_patch(storage_uri=CHAMPION_URI, model_version="3", env=env))
    validate_isvc(back)
    assert back["spec"]["predictor"]["model"]["env"] == created["spec"]["predictor"]["model"]["env"]
    # Moving the percent alone creates no revision and leaves the env as it is.
    assert "model" not in canary_percent_patch(50)["spec"]["predictor"]
    with pytest.raises(ValueError, match=MODEL_VERSION_ENV):
        _spec(env={MODEL_VERSION_ENV: "9"}, model_version="3")


def test_the_model_container_runs_as_non_root() -> None:
    security = _spec()["spec"]["predictor"]["model"]["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == security["runAsGroup"] == SERVING_UID != 0
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}


def test_defaults_leave_the_canary_percent_out_and_set_resources() -> None:
    doc = _spec()
    predictor = doc["spec"]["predictor"]
    assert "canaryTrafficPercent" not in predictor
    assert predictor["model"]["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}
    assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "tradewind-serving"
    assert "annotations" not in doc["metadata"]


def test_long_or_odd_names_become_valid_short_names(validate_isvc: Validate, validate_k8s: Validate) -> None:
    doc = inference_service_spec("Fraud_Model." + "x" * 80, storage_uri=CHAMPION_URI)
    name = validate_isvc(doc)
    assert len(name) <= NAME_MAX_LENGTH
    assert len(f"{name}-predictor-00001") <= 63
    validate_k8s({"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc["metadata"]})


# --------------------------------------------------------------------------------------------
# The rollout
# --------------------------------------------------------------------------------------------


def test_a_whole_rollout_validates_at_every_step(validate_isvc: Validate) -> None:
    live = _spec(model_version="3")
    validate_isvc(live)
    steps = [
        ("start", start_canary_patch(CHALLENGER_URI, 10, model_version="4"), 10),
        ("move", canary_percent_patch(50), 50),
        ("full", canary_percent_patch(100), 100),
        ("promote", promote_patch(), None),
    ]
    for step, patch, percent in steps:
        json.dumps(patch)
        before = copy.deepcopy(live)
        live = apply_merge_patch(live, patch)
        validate_isvc(live)
        assert live["spec"]["predictor"].get("canaryTrafficPercent") == percent, step
        assert live["spec"]["predictor"]["model"]["storageUri"] == CHALLENGER_URI, step
        assert live["spec"]["predictor"]["annotations"] == {MODEL_VERSION_ANNOTATION: "4"}, step
        # a patch touches only what it names: image, resources, security stay as they were
        for key in ("resources", "securityContext", "modelFormat", "runtime"):
            assert live["spec"]["predictor"]["model"][key] == before["spec"]["predictor"]["model"][key]
    assert "canaryTrafficPercent" not in live["spec"]["predictor"]


def test_patches_without_deletions_validate_as_partial_objects(validate_isvc: Validate) -> None:
    """A merge patch is itself a partial object: every key it sets must be one the CRD knows."""
    for patch in (
        start_canary_patch(CHALLENGER_URI, 10, model_version="4", image="ghcr.io/tradewind/serving:2"),
        canary_percent_patch(50),
        rollback_patch(storage_uri=CHAMPION_URI, model_version="3"),
    ):
        validate_isvc({"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "transactions"}, **patch})


def test_the_patches_are_minimal_merge_patches() -> None:
    assert start_canary_patch(CHALLENGER_URI, 10) == {
        "spec": {"predictor": {"canaryTrafficPercent": 10, "model": {"storageUri": CHALLENGER_URI}}}
    }
    assert canary_percent_patch(50) == {"spec": {"predictor": {"canaryTrafficPercent": 50}}}
    assert promote_patch() == {"spec": {"predictor": {"canaryTrafficPercent": None}}}
    assert json.dumps(promote_patch()) == '{"spec": {"predictor": {"canaryTrafficPercent": null}}}'
    assert rollback_patch() == {"spec": {"predictor": {"canaryTrafficPercent": 0}}}


def test_rollback_sends_everything_back_and_names_the_champion_again(validate_isvc: Validate) -> None:
    live = apply_merge_patch(_spec(model_version="3"), start_canary_patch(CHALLENGER_URI, 50, model_version="4"))
    rolled = apply_merge_patch(live, rollback_patch())
    validate_isvc(rolled)
    assert rolled["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert rolled["spec"]["predictor"]["model"]["storageUri"] == CHALLENGER_URI  # only the traffic moved

    restored = apply_merge_patch(live, rollback_patch(storage_uri=CHAMPION_URI, model_version="3"))
    validate_isvc(restored)
    assert restored["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert restored["spec"]["predictor"]["model"]["storageUri"] == CHAMPION_URI
    assert restored["spec"]["predictor"]["annotations"] == {MODEL_VERSION_ANNOTATION: "3"}
    # a later promote can no longer put the rejected challenger in service
    assert apply_merge_patch(restored, promote_patch())["spec"]["predictor"]["model"]["storageUri"] == CHAMPION_URI


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [  # from RFC 7386, appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_apply_merge_patch_follows_rfc_7386(target: Any, patch: Any, expected: Any) -> None:
    original = copy.deepcopy(target)
    assert apply_merge_patch(target, patch) == expected
    assert target == original


# --------------------------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("percent", [-1, 101, 1000, True, 10.5, "10", None])
def test_a_percent_outside_0_100_is_refused(percent: Any) -> None:
    with pytest.raises(ValueError, match="percent"):
        canary_percent_patch(percent)
    with pytest.raises(ValueError, match="percent"):
        start_canary_patch(CHALLENGER_URI, percent)
    if percent is not None:
        with pytest.raises(ValueError, match="canary_traffic_percent"):
            _spec(canary_traffic_percent=percent)


@pytest.mark.parametrize(
    ("uri", "match"),
    [
        ("", "non-empty"),
        ("   ", "non-empty"),
        (None, "non-empty"),
        ("models:/transactions/4", "MLflow URI"),
        ("models:/transactions@champion", "MLflow URI"),
        ("runs:/abc123/model", "MLflow URI"),
        ("mlflow-artifacts:/1/abc/artifacts/model", "MLflow URI"),
        ("bucket/path/model", "<scheme>://"),
        ("s3://", "<scheme>://"),
    ],
)
def test_a_bad_storage_uri_is_refused(uri: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _spec(storage_uri=uri)
    with pytest.raises(ValueError, match=match):
        start_canary_patch(uri, 10)
    if uri is not None:  # rollback_patch() without a URI only moves the traffic
        with pytest.raises(ValueError, match=match):
            rollback_patch(storage_uri=uri)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_replicas": 3, "max_replicas": 2}, "max_replicas"),
        ({"max_replicas": 0}, "max_replicas"),
        ({"min_replicas": -1}, "min_replicas"),
        ({"resources": {"requests": {"cpu": "4"}, "limits": {"cpu": "2"}}}, r"resources\.requests\.cpu"),
        ({"resources": {"limits": {"memory": "2 GB"}}}, r"resources\.limits\.memory"),
        ({"resources": {"request": {"cpu": "1"}}}, "only 'requests' and 'limits'"),
        ({"env": {"BAD NAME": "x"}}, "env"),
        ({"namespace": "Serving_NS"}, "namespace"),
        ({"service_account": "Tradewind Serving"}, "service_account"),
    ],
)
def test_other_bad_inputs_are_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _spec(**kwargs)


# --------------------------------------------------------------------------------------------
# Reading the status
# --------------------------------------------------------------------------------------------


def _status(traffic: list[dict[str, Any]], *, ready: str = "True", generation: int = 2, **predictor: Any) -> dict:
    component = {
        "latestCreatedRevision": "transactions-predictor-00002",
        "latestReadyRevision": "transactions-predictor-00002",
        "latestRolledoutRevision": "transactions-predictor-00001",
        "previousRolledoutRevision": "transactions-predictor-00001",
        "url": "http://transactions-predictor.serving.example.com",
        "traffic": traffic,
        **predictor,
    }
    ready_condition: dict[str, Any] = {"type": "Ready", "status": ready, "lastTransitionTime": "2026-01-08T10:00:00Z"}
    if ready != "True":
        ready_condition.update(
            reason="RevisionMissing", message="Configuration is waiting for a Revision to become ready."
        )
    return {
        "observedGeneration": generation,
        "url": "http://transactions.serving.example.com",
        "address": {"url": "http://transactions.serving.svc.cluster.local"},
        "conditions": [
            {"type": "IngressReady", "status": "True"},
            {"type": "PredictorReady", "status": ready},
            ready_condition,
        ],
        "components": {"predictor": component},
    }


LATEST = {"revisionName": "transactions-predictor-00002", "latestRevision": True, "tag": "latest"}
PREV = {"revisionName": "transactions-predictor-00001", "latestRevision": False, "tag": "prev"}

STATUSES = {
    "canary-10": (_status([{**LATEST, "percent": 10}, {**PREV, "percent": 90}]), True, 10, 90),
    "canary-50": (_status([{**LATEST, "percent": 50}, {**PREV, "percent": 50}]), True, 50, 50),
    "promoted": (
        _status(
            [{"revisionName": "transactions-predictor-00002", "latestRevision": True, "percent": 100}],
            latestRolledoutRevision="transactions-predictor-00002",
        ),
        True,
        100,
        0,
    ),
    "rolled-back": (_status([{**LATEST, "percent": 0}, {**PREV, "percent": 100}]), True, 0, 100),
    "not-ready": (
        _status(
            [{**PREV, "percent": 100, "latestRevision": False}],
            ready="False",
            latestReadyRevision="transactions-predictor-00001",
        ),
        False,
        0,
        100,
    ),
}


@pytest.mark.parametrize("name", STATUSES)
def test_rollout_state_reads_the_status(name: str, validator: jsonschema.Draft7Validator) -> None:
    status, ready, latest, previous = STATUSES[name]
    doc = {**_spec(), "status": status}
    assert not _errors(validator, doc)  # the fixtures are statuses KServe could write
    state = rollout_state(status)
    assert (state.ready, state.latest_percent, state.previous_percent) == (ready, latest, previous)
    assert state.previous_rolledout_revision == "transactions-predictor-00001"
    assert state.conditions["PredictorReady"] == ("True" if ready else "False")
    assert rollout_state(doc) == state  # the whole object reads the same


def test_rollout_state_says_when_a_stage_is_served() -> None:
    state = rollout_state(STATUSES["canary-10"][0])
    assert state.settled
    assert state.serving(10)
    assert not state.serving(50)
    assert state.serving(10, generation=2)
    assert not state.serving(10, generation=3)  # the controller has not seen the latest patch yet
    assert state.url == "http://transactions.serving.example.com"
    assert [t.percent for t in state.traffic] == [10, 90]

    waiting = rollout_state(STATUSES["not-ready"][0])
    assert not waiting.settled
    assert not waiting.serving(0)
    assert waiting.reason == "RevisionMissing"
    assert waiting.message is not None
    assert waiting.message.startswith("Configuration is waiting")


@pytest.mark.parametrize("status", [None, {}, {"observedGeneration": 1}])
def test_a_resource_without_status_is_not_ready(status: dict[str, Any] | None) -> None:
    state = rollout_state(status)
    assert not state.ready
    assert not state.settled
    assert (state.latest_percent, state.previous_percent, state.traffic) == (0, 0, ())
    assert state.latest_ready_revision is None
