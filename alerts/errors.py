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


def _where(text: str) -> str:
    """A topic or route for a message: as is when short and printable, else shortened and escaped."""
    if len(text) <= 120 and text.isprintable():
        return text
    return repr(text[:120]) + (f"... ({len(text)} characters)" if len(text) > 120 else "")


class CommandError(AlertError, ValueError):
    """An inbound command that is not valid: ``topic`` it came on (or the page's route) and ``reason``."""

    def __init__(self, topic: str, reason: str) -> None:
        self.topic = topic
        self.reason = reason
        super().__init__(f"ignored command on {_where(topic)}: {reason}")


class StaleCommand(CommandError):
    """A command that outlived its intent: retained, too old, or from before the service started."""


class NotOwnPrompt(CommandError):
    """Feedback naming a prompt id that is not one of ``user``'s prompts (unknown, or another user's)."""

    def __init__(self, topic: str, user: str) -> None:
        self.user = user
        super().__init__(topic, f"feedback names a prompt that is not one of {user}'s prompts")


class PracticeRunning(CommandError):
    """A practice asked for while one of ``user``'s practices runs (``remaining_s`` more)."""

    def __init__(self, topic: str, user: str, remaining_s: float) -> None:
        self.user = user
        self.remaining_s = remaining_s
        super().__init__(
            topic,
            f"a practice of {user} is already running ({remaining_s:.0f} s left); one at a time, "
            "ask again when it has ended",
        )
