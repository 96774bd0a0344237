"""Everything a long-running command (``run``, ``demo``) will use, checked before it touches any data.

:func:`calmstrap.config.load_config` already checks each value; this adds what needs several values
together or another stage's rules: the MQTT settings as the notifier takes them (base topic, TLS files,
username with a password) and the InfluxDB keys the chosen API needs. A :class:`ConfigError` names the key;
the command exits 2 with the archive untouched (``demo`` deletes the previous demo's data only after this).
"""

from __future__ import annotations

from calmstrap.alerting import mqtt_settings
from calmstrap.cmd_sync import check_influx_config
from calmstrap.config import Config


def check_services(cfg: Config) -> None:
    """Raise :class:`calmstrap.config.ConfigError` for a service setting that cannot work."""
    if cfg.mqtt.url:
        mqtt_settings(cfg.mqtt)
    if cfg.influx.url:
        check_influx_config(cfg.influx)
