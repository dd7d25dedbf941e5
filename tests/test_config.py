"""Config loading: defaults, the examples, and errors that name the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from edged.config import (
    Config,
    ConfigError,
    default_model_dir,
    load_config,
    parse_config,
)
from edged.home.registry import Home

ROOT = Path(__file__).resolve().parent.parent

DESIGN_SAMPLE = """\
mqtt: {host: localhost, port: 1883}
devices:
  - id: kitchen_ceiling
    name: Kitchen Ceiling Light
    aliases: [ceiling light]
    area: kitchen
    kind: light            # the domain: light, switch, fan, cover, lock, climate, media_player, vacuum, sensor
    protocol: zigbee2mqtt  # or tasmota, homeassistant, template
    topic: zigbee2mqtt/Kitchen Ceiling
"""


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), source="home.yaml")
    return str(info.value)


def device_yaml(**overrides: str) -> str:
    fields = {
        "id": "kitchen_plug",
        "name": "Kitchen Plug",
        "area": "kitchen",
        "kind": "switch",
        "protocol": "tasmota",
        "topic": "kitchen_plug",
        **overrides,
    }
    lines = [f"    {k}: {v}" for k, v in fields.items() if v != ""]
    return "devices:\n  - " + "\n".join(lines)[4:] + "\n"


# --- accepted configs --------------------------------------------------------------


def test_empty_config_is_all_defaults() -> None:
    cfg = parse_config("")
    assert cfg.mqtt.host == "localhost" and cfg.mqtt.port == 1883 and cfg.mqtt.qos == 1
    assert cfg.mqtt.client_id == "edged" and cfg.mqtt.keepalive == 30
    assert cfg.topics.utterance == ["edged/utterance", "edged/+/utterance"]
    assert cfg.topics.result == "edged/result" and cfg.topics.status == "edged/status"
    assert cfg.nlu.model_dir == default_model_dir()
    assert default_model_dir() == ROOT / "models" / "edged-nlu"
    assert cfg.policy.sensitive_action == "confirm"
    assert cfg.limits.max_payload_bytes == 16384
    assert cfg.devices == []


def test_model_dir_env_is_the_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The systemd unit and the container set EDGED_MODEL_DIR: an installed
    # package has no models/ beside it.
    monkeypatch.setenv("EDGED_MODEL_DIR", str(tmp_path / "m"))
    assert default_model_dir() == tmp_path / "m"
    assert parse_config("").nlu.model_dir == tmp_path / "m"


def test_design_sample_is_accepted() -> None:
    cfg = parse_config(DESIGN_SAMPLE)
    home = Home.from_config(cfg)
    device = home.device("kitchen_ceiling")
    assert device.area == "kitchen" and device.kind == "light"
    # An area used but not declared is created, named after its id.
    assert home.areas["kitchen"].name == "kitchen"


def test_example_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGED_MQTT_PASSWORD", "s3cret")
    cfg = load_config(ROOT / "examples" / "home.yaml")
    assert len(cfg.devices) >= 22
    assert {d.protocol for d in cfg.devices} == {
        "zigbee2mqtt",
        "tasmota",
        "homeassistant",
        "template",
    }
    home = Home.from_config(cfg)
    assert home.areas["living_room"].aliases == ("lounge", "sitting room")
    assert home.areas["bedroom"].floor == "first"
    assert home.device("front_door").sensitive_ops == {"unlock"}
    assert home.device("garage_door").sensitive_ops == {"open", "position"}
    # The quick start's broker is anonymous: no password in the example.
    assert cfg.mqtt.password is None


def test_areas_by_name_or_alias_and_floors() -> None:
    cfg = parse_config(
        textwrap.dedent(
            """\
            floors: [{id: first, aliases: [upstairs]}]
            areas:
              - {id: living_room, name: Living Room, aliases: [lounge], floor: upstairs}
              - {id: loft, floor: attic}
            """
        )
        + device_yaml(area="Lounge")
        + "  - {id: tv, name: TV, area: garden_shed, kind: switch, protocol: tasmota, topic: tv}\n"
    )
    layout = cfg.layout()
    assert layout.device_area == {"kitchen_plug": "living_room", "tv": "garden_shed"}
    areas = {a.id: a for a in layout.areas}
    assert areas["living_room"].floor == "first"
    assert areas["loft"].floor == "attic"
    assert areas["garden_shed"].display_name == "garden shed"
    assert {f.id for f in layout.floors} == {"first", "attic"}


def test_subscriptions_share_every_inbound_topic() -> None:
    from edged.daemon import subscription_topics

    cfg = parse_config("topics: {shared_group: edged, hermes: {enabled: true}}\n")
    assert subscription_topics(cfg) == [
        "$share/edged/edged/utterance",
        "$share/edged/edged/+/utterance",
        "$share/edged/hermes/nlu/query",
    ]
    assert subscription_topics(parse_config("")) == ["edged/utterance", "edged/+/utterance"]


def _shared(client_id: str) -> Config:
    return parse_config(
        f"mqtt: {{client_id: {client_id!r}}}\n"
        "topics: {shared_group: edged}\n"
        "discovery: {enabled: true}\n"
    )


def test_shared_group_daemons_name_status_and_discovery_after_their_client_id() -> None:
    a, b = _shared("edged-a"), _shared("edged-b")
    assert a.topics.status == "edged/edged-a/status"
    assert b.topics.status == "edged/edged-b/status"
    assert (a.discovery.node_id, b.discovery.node_id) == ("edged-a", "edged-b")
    assert a.discovery.state_topic == "edged/edged-a/state"
    assert b.discovery.state_topic == "edged/edged-b/state"
    # What they share: the utterances and the result topic the hub reads.
    assert a.topics.utterance == b.topics.utterance and a.topics.result == b.topics.result


def test_shared_group_names_survive_odd_client_ids() -> None:
    cfg = _shared("pi 4/kitchen#1")
    assert cfg.discovery.node_id == "pi_4_kitchen_1"
    assert cfg.topics.status == "edged/pi_4_kitchen_1/status"


def test_shared_group_keeps_names_the_file_sets() -> None:
    cfg = parse_config(
        "mqtt: {client_id: edged-a}\n"
        "topics: {shared_group: edged, status: hub/edged-a/alive}\n"
        "discovery: {enabled: true, node_id: kitchen_pi, state_topic: hub/a/state}\n"
    )
    assert cfg.topics.status == "hub/edged-a/alive"
    assert cfg.discovery.node_id == "kitchen_pi"
    assert cfg.discovery.state_topic == "hub/a/state"


def test_without_a_shared_group_the_names_stay_the_defaults() -> None:
    cfg = parse_config("mqtt: {client_id: edged-a}\ndiscovery: {enabled: true}\n")
    assert cfg.topics.status == "edged/status"
    assert (cfg.discovery.node_id, cfg.discovery.state_topic) == ("edged", "edged/state")


def test_shared_group_names_in_a_config_built_in_code() -> None:
    from edged.config import DiscoveryConfig, MqttConfig, TopicsConfig

    cfg = Config(
        mqtt=MqttConfig(client_id="edged-b"),
        topics=TopicsConfig(shared_group="edged"),
        discovery=DiscoveryConfig(enabled=True),
    )
    assert cfg.topics.status == "edged/edged-b/status"
    assert cfg.discovery.node_id == "edged-b" and cfg.discovery.enabled


def test_broker_address_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "mqtt: {host: broker.lan, port: 1883, client_id: x}\n"
    monkeypatch.setenv("EDGED_MQTT_PORT", "11883")
    cfg = parse_config(text)
    assert (cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.client_id) == ("broker.lan", 11883, "x")
    monkeypatch.setenv("EDGED_MQTT_HOST", "127.0.0.1")
    assert (parse_config(text).mqtt.host, parse_config("").mqtt.port) == ("127.0.0.1", 11883)
    for bad in ("0", "70000", "eleven", "-1"):
        monkeypatch.setenv("EDGED_MQTT_PORT", bad)
        with pytest.raises(
            ConfigError, match=f"EDGED_MQTT_PORT: must be a port number 1-65535 \\(got '{bad}'\\)"
        ):
            parse_config(text)
    monkeypatch.setenv("EDGED_MQTT_PORT", "")
    assert parse_config(text).mqtt.port == 1883


def test_sensitive_ops_merge_with_defaults() -> None:
    cfg = parse_config("policy: {sensitive_ops: {climate: [temperature], lock: []}}\n")
    policy = cfg.policy
    assert policy.sensitive_ops_for("climate", None) == {"temperature"}
    assert policy.sensitive_ops_for("lock", None) == frozenset()
    assert policy.sensitive_ops_for("cover", "garage") == {"open", "position"}
    assert policy.sensitive_ops_for("cover", "blind") == frozenset()
    assert policy.sensitive_ops_for("alarm", None) == {"disarm"}


def test_device_confirm_override() -> None:
    cfg = parse_config(
        DESIGN_SAMPLE
        + "  - {id: door, name: Door, kind: lock, protocol: zigbee2mqtt, topic: z/door, confirm: false}\n"
        + "  - {id: gate, name: Gate, kind: cover, device_class: gate, protocol: zigbee2mqtt,"
        " topic: z/gate, sensitive_ops: [open, close]}\n"
    )
    home = Home.from_config(cfg)
    assert home.device("door").sensitive_action == "refuse"
    assert home.device("gate").sensitive_ops == {"open", "close"}
    assert home.device("kitchen_ceiling").sensitive_action == "confirm"


# --- passwords ---------------------------------------------------------------------


def test_password_from_env_is_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGED_TEST_PW", "hunter2")
    cfg = parse_config("mqtt: {username: edged, password_env: EDGED_TEST_PW}\n")
    assert cfg.mqtt.password is not None
    assert cfg.mqtt.password.get_secret_value() == "hunter2"
    for text in (repr(cfg), str(cfg), repr(cfg.mqtt), cfg.model_dump_json()):
        assert "hunter2" not in text


def test_password_file_strips_newline_relative_to_config(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "mqtt.pw").write_text("hunter2\n")
    path = tmp_path / "edged.yaml"
    path.write_text("mqtt: {username: edged, password_file: secrets/mqtt.pw}\n")
    cfg = load_config(path)
    assert cfg.mqtt.password is not None and cfg.mqtt.password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(cfg)


def test_password_errors() -> None:
    assert "mqtt.password_env: environment variable EDGED_NOT_SET_X is not set" in error_of(
        "mqtt: {username: u, password_env: EDGED_NOT_SET_X}\n"
    )
    assert "mqtt: set only one of password, password_env, password_file" in error_of(
        "mqtt: {username: u, password: a, password_env: B}\n"
    )
    assert "mqtt.password_file: cannot read" in error_of(
        "mqtt: {username: u, password_file: /nonexistent/pw}\n"
    )


def test_password_never_appears_in_errors() -> None:
    message = error_of("mqtt: {username: u, password: [hunter2]}\n")
    assert "mqtt.password" in message and "hunter2" not in message


# --- errors name the field ---------------------------------------------------------


def test_protocol_typo() -> None:
    message = error_of(DESIGN_SAMPLE.replace("protocol: zigbee2mqtt", "protocol: zigbe2mqtt"))
    assert (
        "devices[0].protocol: must be one of zigbee2mqtt, tasmota, homeassistant, template "
        "(got 'zigbe2mqtt') (line 8)"
    ) in message


def test_kind_typo() -> None:
    message = error_of(device_yaml(kind="lamp"))
    assert "devices[0].kind: must be one of light, switch, fan" in message
    assert "(got 'lamp')" in message


def test_unknown_field_suggests_the_right_one() -> None:
    message = error_of(device_yaml(alias="[plug]"))
    assert "devices[0].alias: unknown field; did you mean 'aliases'?" in message
    assert "mqtt.hots: unknown field; did you mean 'host'?" in error_of("mqtt: {hots: x}\n")


def test_bad_id() -> None:
    assert "devices[0].id: must be lower-case letters, digits and _ (got 'Kitchen Plug')" in (
        error_of(device_yaml(id="Kitchen Plug"))
    )


def test_home_assistant_entity_ids_are_device_ids() -> None:
    cfg = parse_config(device_yaml(id="switch.kitchen_plug"))
    assert [d.id for d in cfg.devices] == ["switch.kitchen_plug"]
    assert "switch.kitchen_plug" in Home.from_config(cfg).devices
    # One dot, between two id words; areas and floors keep plain ids.
    for bad in ("light.", ".plug", "light.kitchen.plug", "Light.Plug"):
        assert "Home Assistant entity id" in error_of(device_yaml(id=bad)), bad
    assert "areas[0].id: must be lower-case letters" in error_of("areas: [{id: a.b}]\n")


def test_duplicate_ids() -> None:
    text = (
        device_yaml()
        + "  - {id: kitchen_plug, name: Other, kind: switch, protocol: tasmota, topic: o}\n"
    )
    assert "devices[1].id: duplicate id 'kitchen_plug' (also devices[0])" in error_of(text)


def test_empty_names_and_aliases() -> None:
    assert "devices[0].name" in error_of(device_yaml(name="''"))
    assert "devices[0].aliases: Value error" not in error_of(device_yaml(aliases="['  ']"))
    assert "devices[0].aliases: aliases must not be empty" in error_of(
        device_yaml(aliases="['  ']")
    )


def test_protocol_requirements() -> None:
    assert "devices[0].topic: required for protocol tasmota" in error_of(device_yaml(topic=""))
    assert "devices[0].command_topics: required for protocol homeassistant" in error_of(
        device_yaml(protocol="homeassistant", topic="")
    )
    assert "devices[0].template: required for protocol template" in error_of(
        device_yaml(protocol="template", topic="")
    )
    assert "devices[0].command_topics.set: must be one of command, position" in error_of(
        device_yaml(protocol="homeassistant", topic="", command_topics="{set: a/b}")
    )
    assert "devices[0].topic: give the tasmota device topic without the prefix" in error_of(
        device_yaml(topic="cmnd/kitchen_plug")
    )
    assert "devices[0].topic: wildcards + and # are not allowed" in error_of(
        device_yaml(topic="a/#")
    )
    assert "devices[0].template.brightness: a switch has no operation brightness" in error_of(
        device_yaml(protocol="template", topic="", template="{brightness: {topic: t}}")
    )


def test_area_typo_is_caught() -> None:
    text = "areas: [{id: kitchen}]\n" + device_yaml(area="kitchn")
    assert "devices[0].area: unknown area 'kitchn'; did you mean 'kitchen'?" in error_of(text)
    # Numbered areas are different areas, not typos.
    parse_config("areas: [{id: bedroom_1}]\n" + device_yaml(area="bedroom_2"))


def test_alias_used_by_two_areas() -> None:
    text = "areas: [{id: lounge, aliases: [tv room]}, {id: den, aliases: [tv room]}]\n"
    assert "areas[1]: name or alias 'tv room' is also used by areas[0]" in error_of(text)


def test_policy_and_topic_errors() -> None:
    assert "policy.confidence_floor" in error_of("policy: {confidence_floor: 1.5}\n")
    assert "policy.sensitive_action: must be one of confirm, refuse (got 'ask')" in error_of(
        "policy: {sensitive_action: ask}\n"
    )
    assert "policy.sensitive_ops: 'lock': a lock has no operation open" in error_of(
        "policy: {sensitive_ops: {lock: [open]}}\n"
    )
    assert "topics.result: wildcards + and # are not allowed" in error_of("topics: {result: a/+}\n")
    assert "topics.utterance[0]: '#' must be a whole last level" in error_of(
        "topics: {utterance: ['a/#/b']}\n"
    )
    assert "mqtt.port" in error_of("mqtt: {port: 70000}\n")
    assert "nlu.backend: must be one of onnxruntime, tflite, edgetpu (got 'torch')" in error_of(
        "nlu: {backend: torch}\n"
    )


def test_yaml_errors_have_lines() -> None:
    message = error_of("mqtt:\n  host: a\n port: 1\n")
    assert message.startswith("home.yaml:3:")
    assert "home.yaml:2:1: duplicate key 'mqtt' (first on line 1)" in error_of(
        "mqtt: {}\nmqtt: {}\n"
    )
    assert "the top level must be a mapping" in error_of("- a\n- b\n")


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config("/nonexistent/edged.yaml")


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
    assert isinstance(parse_config(""), Config)
