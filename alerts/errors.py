"""The alerts package's error types."""

from __future__ import annotations


class AlertError(Exception):
    """Base of every error raised by the alerts package."""


class CatalogError(AlertError, ValueError):
    """A prompt catalog entry that is not well formed."""

    def __init__(self, prompt_id: str, reason: str) -> None:
        self.prompt_id = prompt_id
        self.reason = reason
        super().__init__(f"prompt catalog entry {prompt_id!r}: {reason}")


class MqttError(AlertError):
    """Base of the MQTT notifier's errors."""


class MqttSettingsError(MqttError, ValueError):
    """An MQTT setting that cannot be used (``key`` names it)."""

    def __init__(self, key: str, value: object, expected: str) -> None:
        self.key = key
        self.value = value
        self.expected = expected
        super().__init__(f"mqtt setting {key} = {value!r}: expected {expected}")


class MqttConnectError(MqttError):
    """The broker could not be reached (network, TLS) or refused the connection."""

    def __init__(self, broker: str, reason: str) -> None:
        self.broker = broker
        self.reason = reason
        super().__init__(f"MQTT broker {broker}: {reason}")


class MqttAuthError(MqttConnectError):
    """The broker refused the credentials (or their absence); ``anonymous`` when none were sent."""

    def __init__(self, broker: str, reason_code: str, *, anonymous: bool) -> None:
        self.reason_code = reason_code
        self.anonymous = anonymous
        if anonymous:
            reason = (
                f"refused an anonymous connection ({reason_code}): this broker requires a username and "
                "password; set mqtt.username and mqtt.password_file (or CALMSTRAP_MQTT__USERNAME and "
                "CALMSTRAP_MQTT__PASSWORD)"
            )
        else:
            reason = (
                f"refused the username and password ({reason_code}): check mqtt.username and "
                "mqtt.password / mqtt.password_file"
            )
        super().__init__(broker, reason)


class CommandError(AlertError, ValueError):
    """An inbound command that is not valid: ``topic`` it came on and ``reason``."""

    def __init__(self, topic: str, reason: str) -> None:
        self.topic = topic
        self.reason = reason
        super().__init__(f"ignored command on {topic}: {reason}")
