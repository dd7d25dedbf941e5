"""`edged run`: start-up, the transports around one pipeline, and the home.

The pipeline (edged.pipeline) knows no wire format; the transports
(edged.transports) sit beside it: MQTT (edged's utterances and results,
device commands and state, discovery), Hermes on the same connection, and
Wyoming over TCP. This module builds them from the configuration, keeps the
home (the YAML, re-read on SIGHUP, plus the devices imported from the broker)
and swaps it into the engine between utterances, and tells systemd how it
goes (READY once listening, the watchdog, STOPPING).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from edged.config import Config, ConfigError, load_config
from edged.engine import Engine, custom_intent_problems
from edged.home.importer import ImportState, apply_message, build_home
from edged.journal import Journal, JournalUnavailable
from edged.messages import Limits
from edged.metrics import Metrics, MetricsUnavailable, load_metrics
from edged.pipeline import PIPELINE_DEPTH, Pipeline, Stats
from edged.reply_to import reply_rules
from edged.sdnotify import SystemdNotifier
from edged.transports.hermes import HermesTransport
from edged.transports.mqtt import MqttTransport, Route, request_subscriptions

log = logging.getLogger("edged.daemon")

EXIT_CONFIG = 78  # EX_CONFIG: systemd's RestartPreventExitStatus keeps it from looping
EXIT_MODEL = 3
# A burst of import messages (a bridge re-announcing everything) is one rebuild.
REBUILD_DELAY_S = 0.2
# Sections a reload cannot change in a running daemon (connection, model, ...).
RESTART_ONLY = (
    "mqtt",
    "topics",
    "nlu",
    "limits",
    "discovery",
    "metrics",
    "wyoming",
    "import_",
    "state_dir",
    "language",
)


class Service(Protocol):
    """A transport that serves on its own (not on the MQTT connection)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def limits_of(cfg: Config) -> Limits:
    lim = cfg.limits
    return Limits(
        lim.max_payload_bytes, lim.max_json_depth, lim.max_text_chars, lim.max_clock_skew_s
    )


def mqtt_routes(cfg: Config, limits: Limits) -> list[Route]:
    """The routes other transports add to the MQTT connection. A transport
    that rides on MQTT adds its line here."""
    routes = []
    if cfg.topics.hermes.enabled:
        routes.append(HermesTransport(cfg, limits).route())
    return routes


def subscription_topics(cfg: Config) -> list[str]:
    """The request topics `edged run` subscribes to."""
    return request_subscriptions(cfg, mqtt_routes(cfg, limits_of(cfg)))


class Daemon:
    def __init__(
        self,
        cfg: Config,
        engine: Engine,
        journal: Journal | None = None,
        metrics: Metrics | None = None,
        config_path: Path | None = None,
    ) -> None:
        self.cfg = cfg
        self.engine = engine
        self.notifier = SystemdNotifier()
        self.stopping = asyncio.Event()
        limits = limits_of(cfg)
        self.pipeline = Pipeline(cfg, engine, journal, metrics=metrics, stopping=self.stopping)
        self.mqtt = MqttTransport(cfg, self.pipeline, limits, self.notifier)
        self.pipeline.executor = self.mqtt
        for route in mqtt_routes(cfg, limits):
            self.mqtt.add_route(route)
        self.services: list[Service] = []
        if cfg.wyoming.enabled:
            # Its own module, imported only when used (the wyoming package).
            from edged.transports.wyoming import WyomingTransport

            self.services.append(
                WyomingTransport(cfg, self.pipeline, limits, announce=self.mqtt.publish_result)
            )
        self.health_file = os.environ.get("EDGED_HEALTH_FILE")
        self._ready_sent = False
        self.mqtt.on_online = self._online
        # The home: the YAML (re-read on SIGHUP) plus what the broker says
        # (`import:`), swapped into the engine between utterances.
        self.config_path = config_path
        self.home_cfg = cfg
        self.imports = ImportState()
        self._import_logged: set[str] = set()
        self._import_last = 0.0
        self._import_count = 0  # messages taken in, so a rebuild knows it is behind
        self._home_lock = asyncio.Lock()
        self._rebuild: asyncio.Task[None] | None = None
        if cfg.import_.enabled:
            self.pipeline.ready.clear()  # until the imported devices are in
            self.mqtt.on_import = self._take_import
            self.mqtt.before_requests = self._import_home

    @property
    def stats(self) -> Stats:
        return self.pipeline.stats

    def _online(self) -> None:
        if not self._ready_sent:
            # Only now: a unit ordered after edged finds it listening.
            self.notifier.ready()
            self._ready_sent = True

    async def _ticker(self) -> None:
        """systemd watchdog and the container heartbeat, from the event loop:
        if the loop hangs, both stop and the supervisor restarts us."""
        interval = self.notifier.watchdog_interval_s()
        period = min(10.0, interval / 2) if interval else 10.0
        while True:
            self.notifier.watchdog()
            if self.health_file and self.mqtt.connected.is_set():
                with contextlib.suppress(OSError):
                    Path(self.health_file).touch()
            self.pipeline.journal.prune(time.time())
            await asyncio.sleep(period)

    # -- lifecycle ---------------------------------------------------------
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self.stopping.set)
        with contextlib.suppress(NotImplementedError):  # systemctl reload edged
            loop.add_signal_handler(
                signal.SIGHUP, lambda: self.pipeline.spawn(self._reload_quietly())
            )
        worker = asyncio.create_task(self.pipeline.run(), name="edged-worker")
        ticker = asyncio.create_task(self._ticker(), name="edged-ticker")
        started: list[Service] = []
        try:
            for service in self.services:
                await service.start()
                started.append(service)
            await self.mqtt.run()
        finally:
            for service in reversed(started):
                await service.stop()
            worker.cancel()
            ticker.cancel()
            if self._rebuild is not None:
                self._rebuild.cancel()
            self.pipeline.close()
            if self.health_file:
                with contextlib.suppress(OSError):
                    Path(self.health_file).unlink()
            self.pipeline.journal.close()
        log.info(
            "stopped: received %d, handled %d, duplicates %d, shed %d",
            self.stats.received,
            self.stats.handled,
            self.stats.duplicates,
            self.stats.shed,
        )
        return 0

    # -- the home: imported from the broker, reloaded on SIGHUP (edged.home.importer)
    async def _import_home(self) -> None:
        """Subscribe to the import topics and wait until their retained
        messages stop coming (`import.settle_s`), so the first utterance
        already finds the imported devices. Never a shared subscription:
        every instance needs the whole home."""
        loop = asyncio.get_running_loop()
        icfg = self.cfg.import_
        started = self._import_last = loop.time()
        await self.mqtt.subscribe(icfg.subscriptions(), qos=1)
        if self.pipeline.ready.is_set():
            return  # a reconnect: what comes again is a live update
        while True:
            now = loop.time()
            if now - self._import_last >= icfg.settle_s or now - started >= icfg.settle_max_s:
                break
            await asyncio.sleep(0.05)
        count = self._import_count
        try:
            await self._swap_home()
        except Exception:
            log.exception("import: could not build the home; serving the configured devices only")
        self.pipeline.ready.set()
        if self._import_count != count:
            self._schedule_rebuild()

    def _take_import(self, topic: str, payload: bytes) -> None:
        self._import_last = asyncio.get_running_loop().time()
        before = self.imports
        self.imports, problems = apply_message(before, self.cfg.import_, topic, payload)
        self._log_import_problems(problems)
        if self.imports is before:
            return  # nothing changed (a bridge announcing everything again)
        self._import_count += 1
        if self.pipeline.ready.is_set():
            self._schedule_rebuild()

    def _log_import_problems(self, problems: Iterable[str]) -> None:
        for problem in problems:
            # Once each: a bad retained message comes back on every reconnect.
            if problem not in self._import_logged and len(self._import_logged) < 10000:
                self._import_logged.add(problem)
                log.warning("import: %s", problem)

    def _schedule_rebuild(self) -> None:
        if self._rebuild is None or self._rebuild.done():
            self._rebuild = asyncio.create_task(self._rebuild_home(), name="edged-import")

    async def _rebuild_home(self) -> None:
        """Rebuild until the home reflects every import message taken in."""
        built = -1
        while built != self._import_count:
            await asyncio.sleep(REBUILD_DELAY_S)
            built = self._import_count
            try:
                await self._swap_home()
            except Exception:
                log.exception("import: could not rebuild the home; the previous one stays")
                return

    async def _swap_home(self, base: Config | None = None) -> None:
        """Build the home from `base` (default: the config in use) and the
        imports as they are now, off the event loop, then hand it to the
        engine on the engine thread: between two utterances, never inside
        one. Raises (and changes nothing) when it cannot be built."""
        async with self._home_lock:
            base = base or self.home_cfg
            imports = self.imports
            merged, home = await asyncio.to_thread(build_home, base, imports.devices())
            await self.pipeline.on_engine_thread(self.engine.replace_home, merged.config, home)
            self.home_cfg = base
            # Imported devices' command topics are closed to reply_to too.
            self.mqtt.reply_rules = reply_rules(merged.config)
            # The state store is fed here on the event loop: swapped here too.
            subscribe, drop = self.engine.state.replace_home(home)
            await self.mqtt.follow_state_topics(subscribe, drop)
        self._log_import_problems(merged.refused)
        imported = sum(1 for row in merged.listing if row.source != "yaml")
        log.info(
            "home: %d devices (%d imported, %d imported ones replaced by devices in the config)",
            len(merged.listing),
            imported,
            len(merged.overridden),
        )

    async def reload(self) -> bool:
        """SIGHUP: read the config file again and serve its home, policy and
        custom intents from the next utterance on; what is queued or in
        flight, the journal and the connection stay. A config that does not
        load is refused with one log line and the old one keeps serving."""
        if self.config_path is None:
            log.warning("reload: no configuration file to read again")
            return False
        try:
            new = await asyncio.to_thread(load_config, self.config_path)
        except ConfigError as e:
            log.error(
                "reload refused, still serving the previous configuration: %s",
                " ".join(str(e).split()),
            )
            return False
        # import.areas only places devices: it reloads; the import sources do not.
        running = self.cfg.model_copy(
            update={"import_": self.cfg.import_.model_copy(update={"areas": new.import_.areas})}
        )
        kept = [k for k in RESTART_ONLY if getattr(new, k) != getattr(running, k)]
        if kept:
            log.warning(
                "reload: %s changed, which takes a restart; keeping the running values",
                ", ".join("import" if k == "import_" else k for k in kept),
            )
            new = new.model_copy(update={k: getattr(running, k) for k in kept})
        try:
            await self._swap_home(new)
        except Exception as e:
            log.error("reload refused, still serving the previous configuration: %s", e)
            return False
        for problem in custom_intent_problems(new, self.engine.model):
            log.warning("%s", problem)
        self.notifier.status(f"reloaded {self.config_path}")
        log.info("reloaded %s", self.config_path)
        return True

    async def _reload_quietly(self) -> None:
        try:
            await self.reload()
        except Exception:
            log.exception("reload failed; the previous configuration stays")


def run_daemon(config_path: Path) -> int:
    try:
        cfg = load_config(config_path)
    except ConfigError as e:
        print(f"edged: {config_path}: {e}", file=sys.stderr)
        return EXIT_CONFIG
    # Metrics first: a missing prometheus-client is one clear error before
    # the model takes its seconds to load.
    metrics: Metrics | None = None
    if cfg.metrics.enabled:
        try:
            metrics = load_metrics()
            metrics.serve(cfg.metrics.host, cfg.metrics.port)
        except MetricsUnavailable as e:
            print(f"edged: {e}", file=sys.stderr)
            return EXIT_CONFIG
        except OSError as e:
            where = f"{cfg.metrics.host}:{cfg.metrics.port}"
            print(f"edged: cannot serve metrics on {where}: {e.strerror or e}", file=sys.stderr)
            return 1
    # The journal before the model: an unusable state_dir is one line, at once.
    try:
        journal = Journal.open_default(cfg)
    except JournalUnavailable as e:
        print(f"edged: {e}", file=sys.stderr)
        return EXIT_CONFIG
    from edged.nlu.model import ModelLoadError

    # Until the event loop takes SIGHUP over, a reload must not end the
    # process (Python's default for SIGHUP); the config was just read anyway.
    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        engine = Engine.from_config(cfg)
    except ModelLoadError as e:
        print(f"edged: cannot load the NLU model: {e}", file=sys.stderr)
        return EXIT_MODEL
    for problem in custom_intent_problems(cfg, engine.model):
        log.warning("%s", problem)

    async def main() -> int:
        # Built on the running loop (its queues and events belong to it).
        return await Daemon(cfg, engine, journal, metrics, config_path=config_path).run()

    try:
        import uvloop

        return uvloop.run(main())
    except ImportError:  # pragma: no cover - non-Linux development machines
        return asyncio.run(main())
    finally:
        if metrics is not None:
            metrics.close()


__all__ = ["PIPELINE_DEPTH", "Daemon", "mqtt_routes", "run_daemon", "subscription_topics"]
