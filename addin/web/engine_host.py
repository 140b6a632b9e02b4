"""The web host of the check engine: one Checker per app, lent to requests, rebuilt on a new key.

:class:`EngineHost` lives in ``app.extensions`` and holds the run-time
settings (:class:`~addin.web.runtime_settings.RuntimeSettings`), the current
:class:`~addin.engine.checker.Checker`, the ``=FBCHECK`` look-up coalescer, the
look-up batch held for confirmation and the selection plans awaiting it. The
Checker starts lazily, so an app that only serves pages never starts the demo
emulator or the runner. Each request borrows it with ``with host.checker() as
checker:``; a new API key retires the old Checker once no request holds it any
more.

Close it with :func:`close_app` (tests do); otherwise it is closed when the
app is garbage-collected or the interpreter exits.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from flask import Flask

from addin.config import Settings
from addin.engine.checker import Checker
from addin.engine.connection import key_fingerprint
from addin.engine.normalizer_pool import NormalizerPool
from addin.engine.planning import Plan
from addin.engine.store import Store
from addin.engine.store.database import StoreError
from addin.vendor import open_checker
from addin.web.coalescer import (
    DEFAULT_MAX_WAIT,
    DEFAULT_QUIET,
    Lookup,
    LookupCoalescer,
    Submission,
)
from addin.web.file_numbers import FileUploads, file_uploads
from addin.web.flask_config import (
    EMULATOR_CONFIG_KEY,
    LOOKUP_CLOCK_KEY,
    LOOKUP_MAX_WAIT_KEY,
    LOOKUP_QUIET_KEY,
    NORMALIZE_WORKERS_KEY,
    SETTINGS_KEY,
    START_RUNNER_KEY,
    UNFINISHED_IN_STORE_KEY,
)
from addin.web.held_lookups import ASKED_AGAIN, HeldBatch, HeldBook, HeldLookups
from addin.web.pending_plans import PendingPlans, PlanBook
from addin.web.runtime_settings import RuntimeSettings
from addin.web.stored_unfinished import (
    StoredHeldLookups,
    StoredPlans,
    stored_file_uploads,
    stored_selection_uploads,
)
from addin.web.team import started_by, team_of, users_store
from addin.web.uploads import SelectionUploads, selection_uploads

EXTENSION_KEY = "fbcheck.engine"
#: Seconds a settings change waits for requests still using the old engine.
DRAIN_TIMEOUT = 30.0
#: Demo tasks die with their emulator; say so instead of leaving them open.
DEMO_SWITCH_REASON = "the API key changed while this demo check ran; check again"
#: What a cell of a look-up batch the user cancelled says (#N/A).
LOOKUPS_CANCELLED_REASON = (
    "not checked: the look-up was cancelled in the task pane, nothing was billed;"
    " enter the formula again to ask again"
)

log = logging.getLogger(__name__)


class SettingsChangedError(RuntimeError):
    """The API key changed since the held batch was planned; it is void."""


class BalanceTooLowError(RuntimeError):
    """The v1 balance cannot pay for a held batch the user confirmed; nothing was sent."""


class EngineClosedError(RuntimeError):
    """The app was closed; no engine is available any more."""


class Desk:
    """One person's unfinished business: look-ups being joined, the held batch, plans, uploads.

    The local backend has one desk (user None). On the team server each user has
    their own, so nobody confirms, cancels or joins another person's batch, and each
    ``=FBCHECK`` job names the one user whose cells asked for it. The coalescer is
    this process's; the rest is in memory locally and in the store on the team server
    (``host.shared_store``), where every instance finds it.
    """

    def __init__(self, host: EngineHost, user: str | None) -> None:
        """Make an empty desk for ``user`` whose look-ups ``host`` submits."""
        self.user = user
        self._host = host
        coalescing: dict[str, Any] = dict(host._coalescing)
        self.coalescer = LookupCoalescer(
            functools.partial(host._submit_lookups, self),
            quiet=coalescing["quiet"],
            max_wait=coalescing["max_wait"],
            # A batch of a full task's size goes at once: waiting cannot merge more into it.
            max_batch=host.settings.max_numbers_per_task,
            clock=coalescing["clock"],
        )
        store = host.shared_store
        self.shared = store is not None
        self.plans: PlanBook
        self.held_lookups: HeldBook
        #: Selections that arrive in chunks (Excel on the web's 5 MB per request).
        self.uploads: SelectionUploads
        #: The numbers of files checked from the command line (``--server``).
        self.file_uploads: FileUploads
        if store is None:
            self.plans = PendingPlans()
            self.held_lookups = HeldLookups()
            self.uploads = selection_uploads()
            self.file_uploads = file_uploads()
        else:
            self.plans = StoredPlans(store, owner=user)
            self.held_lookups = StoredHeldLookups(store, owner=user)
            self.uploads = stored_selection_uploads(store, user)
            self.file_uploads = stored_file_uploads(store, user)

    def settle(self, batch: HeldBatch, outcome: Lookup) -> None:
        """Record what became of a held batch's numbers, here and for the other instances.

        The cells of those numbers poll whichever instance answers (the team server's
        load balancer); the stored outcome tells an instance that held the batch, or
        never heard of it, not to queue the numbers again. Failing to store it is
        logged, not raised: the batch is settled already, and an instance that does
        not learn of it queues the numbers again (planned again: nothing is uploaded
        twice, at worst the pane asks once more).
        """
        self.coalescer.settle(batch.numbers, outcome)
        try:
            self.held_lookups.record_outcome(batch.numbers, outcome, generation=batch.generation)
        except StoreError as exc:
            log.warning("could not record the outcome of %d look-ups: %s", len(batch.numbers), exc)

    def take_outcomes(self, numbers: list[str]) -> set[str]:
        """Take what other instances settled of ``numbers``; return the numbers settled.

        The team server only (nothing otherwise). A stored outcome replaces what this
        coalescer knows (``adopt``); one marked asked again forgets a number declined
        or failed here (a cell asked for it anew through another instance).
        """
        if not self.shared or not numbers:
            return set()
        outcomes = self.held_lookups.outcomes(numbers, generation=self._host.generation)
        settled = {n: o for n, o in outcomes.items() if o.state != ASKED_AGAIN}
        self.coalescer.adopt(settled)
        self.coalescer.forget(n for n in outcomes if n not in settled)
        return set(settled)

    def forget(self) -> None:
        """Drop what a new API key voids: queued look-ups, plans, the held batch."""
        self.coalescer.forget_all()
        self.plans.clear()
        self.held_lookups.clear()

    def close(self) -> None:
        """Stop the coalescer; drop everything held in memory (the store's stays for others)."""
        self.coalescer.close()
        if self.shared:
            return
        self.plans.clear()
        self.held_lookups.clear()
        self.uploads.clear()
        self.file_uploads.clear()


class EngineHost:
    """Lends one app's Checker to its requests; owns the look-up coalescer and pending plans."""

    def __init__(
        self,
        base: Settings,
        *,
        emulator_config: Mapping[str, Any] | None = None,
        lookup_quiet: float = DEFAULT_QUIET,
        lookup_max_wait: float = DEFAULT_MAX_WAIT,
        lookup_clock: Callable[[], float] = time.monotonic,
        normalize_workers: int = 0,
        start_runner: bool = True,
        shared_store: Callable[[], Store] | None = None,
    ) -> None:
        """Apply the saved task-pane settings to ``base``; start only the normalising workers.

        ``start_runner=False``: the Checker does no vendor I/O of its own (the team
        server whose ``fbcheck worker`` processes do it). ``shared_store``: keep the
        desks' uploads, plans and held batches in that store (the team server's
        instances share them) instead of this process's memory.
        """
        self.runtime = RuntimeSettings(base)
        self.emulator_config = dict(emulator_config or {})
        self.shared_store = shared_store
        #: Bumped when the API key changes in this process (see ``generation``).
        self.rebuilds = 0
        self._lock = threading.Condition()
        self._changing = threading.Lock()
        self._checker: Checker | None = None
        self._leases: dict[int, int] = {}
        self._closed = False
        #: Normalises a selection's distinct cells, shared with warm workers when large.
        self.normalizer = NormalizerPool(normalize_workers)
        self.start_runner = start_runner
        self._coalescing: dict[str, Any] = {
            "quiet": lookup_quiet,
            "max_wait": lookup_max_wait,
            "clock": lookup_clock,
        }
        #: Each person's unfinished business; local mode has only the desk of ``None``.
        self._desks: dict[str | None, Desk] = {}
        self.desk(None)

    def desk(self, user: str | None) -> Desk:
        """Return ``user``'s desk (None: the local backend's one user), made on first use."""
        with self._lock:
            desk = self._desks.get(user)
            if desk is None:
                if self._closed:
                    raise EngineClosedError("the backend is shutting down; start it again")
                desk = Desk(self, user)
                self._desks[user] = desk
            return desk

    def _desks_now(self) -> list[Desk]:
        """Return every desk made so far."""
        with self._lock:
            return list(self._desks.values())

    @property
    def coalescer(self) -> LookupCoalescer:
        """Return the local user's look-up coalescer."""
        return self.desk(None).coalescer

    @property
    def plans(self) -> PlanBook:
        """Return the local user's selection plans awaiting confirmation."""
        return self.desk(None).plans

    @property
    def held_lookups(self) -> HeldBook:
        """Return the local user's look-up batch held for confirmation."""
        return self.desk(None).held_lookups

    @property
    def uploads(self) -> SelectionUploads:
        """Return the local user's selections arriving in chunks."""
        return self.desk(None).uploads

    @property
    def file_uploads(self) -> FileUploads:
        """Return the local user's file numbers arriving in chunks (``--server``)."""
        return self.desk(None).file_uploads

    @property
    def settings(self) -> Settings:
        """Return the settings in force."""
        return self.runtime.current

    @property
    def generation(self) -> str:
        """Return what plans and held batches are made with; a changed vendor key voids them.

        The key's fingerprint and the vendor's URL, which every instance of a team
        server computes alike (its key is set on the server, never at run time, so
        ``rebuilds`` stays 0 there), and the key changes of this process: a key
        changed back locally does not revive a plan made before.
        """
        settings = self.settings
        key = _key_text(settings)
        fingerprint = key_fingerprint(key) if key else "demo"
        return f"{self.rebuilds}:{fingerprint}@{settings.vendor_url}"

    @property
    def demo(self) -> bool:
        """Return True while no API key is set (the bundled emulator answers)."""
        return self.settings.demo

    @contextmanager
    def checker(self) -> Iterator[Checker]:
        """Lend the current Checker for one request (starting it on first use)."""
        with self._lock:
            if self._closed:
                raise EngineClosedError("the backend is shutting down; start it again")
            if self._checker is None:
                self._checker = open_checker(
                    self.settings,
                    emulator_config=self.emulator_config,
                    start_runner=self.start_runner,
                )
            checker = self._checker
            self._leases[id(checker)] = self._leases.get(id(checker), 0) + 1
        try:
            yield checker
        finally:
            with self._lock:
                self._leases[id(checker)] -= 1
                if not self._leases[id(checker)]:
                    del self._leases[id(checker)]
                self._lock.notify_all()

    def change_settings(self, changes: Mapping[str, Any]) -> Settings:
        """Check, save and apply task-pane changes; a new API key rebuilds the Checker.

        Raises ``addin.config.SettingsError`` (nothing changed) when a change is refused.
        """
        # One change at a time: each reads, merges and writes the saved files.
        with self._changing:
            old_key = _key_text(self.settings)
            new = self.runtime.change(changes)
            rebuild = _key_text(new) != old_key
            with self._lock:
                old = self._checker if rebuild else None
                if rebuild:
                    self._checker = None
                    self.rebuilds += 1
                elif self._checker is not None:
                    self._checker.use_settings(new)
            if rebuild:
                for desk in self._desks_now():
                    desk.forget()
                if old is not None:
                    self._retire(old)
            return new

    def _retire(self, old: Checker) -> None:
        """Close a replaced Checker once no request uses it any more."""
        with self._lock:
            self._lock.wait_for(lambda: id(old) not in self._leases, timeout=DRAIN_TIMEOUT)
        old.retire(DEMO_SWITCH_REASON)

    def _submit_lookups(self, desk: Desk, numbers: list[str]) -> str | Submission | None:
        """Submit queued ``=FBCHECK`` numbers as one job and return its id.

        None when they are held for confirmation instead: their plan uploads more
        than ``confirm_above`` numbers, or a held batch waits already (they join it).
        A :class:`Submission` when fewer new numbers than the vendor's minimum per
        task are held back (the coalescer keeps them for the next batch, or the user
        drops them in the pane); the cached or joined rest is still submitted.
        """
        # Settled through another instance meanwhile (queued here by a poll of a cell
        # this instance never heard of): their outcome stands, they are not asked again.
        settled = desk.take_outcomes(numbers)
        numbers = [n for n in numbers if n not in settled]
        if not numbers:
            return Submission(None)
        with self.checker() as checker:
            user = desk.user
            plan = desk.held_lookups.hold_or_plan(
                numbers,
                lambda batch: checker.plan(batch, user=user),
                threshold=self.settings.confirm_above,
                generation=self.generation,
            )
            if plan is None:
                return None
            if not plan.held:
                return _submit_lookup_plan(checker, plan, desk.user)
            job_id = None
            if plan.hits or plan.in_flight:
                job_id = _submit_lookup_plan(checker, plan, desk.user)
            reason = (
                f"not sent yet: {plan.held:,} new number(s), fewer than the vendor's minimum of"
                f" {plan.min_size:,} per task; sent when enough are waiting"
            )
            return Submission(job_id, too_few=tuple(plan.upload), reason=reason)

    def confirm_lookups(
        self, batch_id: str, version: int, desk: Desk | None = None
    ) -> tuple[str, Plan]:
        """Submit the held batch the user confirmed (planned again); return its job and plan.

        ``desk``: whose batch (default: the local user's). Raises ``HeldBatchGoneError``,
        ``HeldBatchChangedError`` (nothing submitted) or ``SettingsChangedError``.
        """
        desk = desk or self.desk(None)
        batch = desk.held_lookups.take(batch_id, version)
        if batch.generation != self.generation:
            desk.settle(batch, Lookup("declined", reason=DEMO_SWITCH_REASON))
            raise SettingsChangedError(batch_id)
        try:
            with self.checker() as checker:
                # Planned again: numbers answered or started meanwhile are not uploaded twice.
                plan = checker.plan(list(batch.numbers), user=desk.user)
                _refuse_unpayable(checker, plan)
                job_id = _submit_lookup_plan(checker, plan, desk.user)
        except BalanceTooLowError as exc:
            desk.settle(batch, Lookup("declined", reason=str(exc)))
            raise
        except Exception as exc:
            desk.settle(batch, Lookup("failed", reason=f"could not start the check: {exc}"))
            raise
        desk.settle(batch, Lookup("submitted", job_id=job_id))
        return job_id, plan

    def cancel_lookups(self, batch_id: str, desk: Desk | None = None) -> HeldBatch:
        """Drop the held batch the user declined (nothing billed); raise ``HeldBatchGoneError``."""
        desk = desk or self.desk(None)
        batch = desk.held_lookups.take(batch_id)
        desk.settle(batch, Lookup("declined", reason=LOOKUPS_CANCELLED_REASON))
        return batch

    def close(self) -> None:
        """Stop the coalescer and the Checker (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            checker, self._checker = self._checker, None
            desks = list(self._desks.values())
        for desk in desks:
            desk.close()
        self.normalizer.close()
        if checker is not None:
            checker.close()


def _refuse_unpayable(checker: Checker, plan: Plan) -> None:
    """Raise ``BalanceTooLowError`` when v1's balance cannot pay the plan's certain requests.

    A person just confirmed this batch in the pane: the one moment v1's (possibly
    billed) balance route is worth asking, as for a ribbon check's confirmation.
    """
    if not (plan.tasks and checker.has_vendor_balance):
        return
    balance = checker.vendor_balance()
    if balance is not None and balance < plan.billed_minimum:
        raise BalanceTooLowError(
            f"stopped before billing: the balance of {balance:,.0f} is below the"
            f" {plan.billed_minimum:,} requests these look-ups are certain to be billed;"
            " top up the balance and recalculate"
        )


def _submit_lookup_plan(checker: Checker, plan: Plan, started_by: str | None) -> str:
    """Submit a plan of ``=FBCHECK`` numbers as a look-up job of ``started_by``; return its id."""
    return checker.submit(
        plan, kind="lookups", label=f"=FBCHECK: {plan.distinct} numbers", started_by=started_by
    )


def _key_text(settings: Settings) -> str:
    """Return the API key in force ("" in demo mode), for comparisons only."""
    return "" if settings.api_key is None else settings.api_key.get_secret_value()


def install(app: Flask) -> EngineHost:
    """Create the app's ``EngineHost`` and keep ``config[SETTINGS_KEY]`` in step with it."""
    shared = team_of(app) is not None or bool(app.config.get(UNFINISHED_IN_STORE_KEY))
    host = EngineHost(
        app.config[SETTINGS_KEY],
        emulator_config=app.config.get(EMULATOR_CONFIG_KEY),
        lookup_quiet=float(app.config.get(LOOKUP_QUIET_KEY, DEFAULT_QUIET)),
        lookup_max_wait=float(app.config.get(LOOKUP_MAX_WAIT_KEY, DEFAULT_MAX_WAIT)),
        lookup_clock=app.config.get(LOOKUP_CLOCK_KEY, time.monotonic),
        normalize_workers=int(app.config.get(NORMALIZE_WORKERS_KEY, 0)),
        start_runner=bool(app.config.get(START_RUNNER_KEY, True)),
        shared_store=functools.partial(users_store, app) if shared else None,
    )
    app.config[SETTINGS_KEY] = host.settings
    app.extensions[EXTENSION_KEY] = host
    # Runs when the app is collected or, at the latest, when the interpreter exits.
    weakref.finalize(app, host.close)
    return host


def host_of(app: Flask) -> EngineHost:
    """Return the app's ``EngineHost``."""
    host = app.extensions[EXTENSION_KEY]
    assert isinstance(host, EngineHost)
    return host


def desk_of(app: Flask) -> Desk:
    """Return the desk of this request's user (the one local desk outside team mode)."""
    return host_of(app).desk(started_by())


def apply_settings(app: Flask, changes: Mapping[str, Any]) -> Settings:
    """Change run-time settings of ``app`` and return the settings now in force."""
    settings = host_of(app).change_settings(changes)
    app.config[SETTINGS_KEY] = settings
    return settings


def close_app(app: Flask) -> None:
    """Stop the app's engine (Checker, runner, demo emulator, look-up worker)."""
    host = app.extensions.get(EXTENSION_KEY)
    if isinstance(host, EngineHost):
        host.close()
