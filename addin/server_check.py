"""``fbcheck check --server URL`` and ``fbcheck jobs ... --server URL``: a team server works.

The input is read here, with the readers and limits of a local run; only its distinct
valid numbers go to the server (``addin.web.views.file_jobs``), which plans, bills and
runs the job with its own vendor key and store. This computer's store, create journal
and vendor key are never opened or sent: ``FBCHECK_API_KEY`` set here is ignored with a
notice. The run shows the same estimate, progress and summary, writes the same output
file and ends with the same exit codes as a local one, plus 10 (sign in again: no
token, or the server refused it) and 11 (the server could not be reached).

Running the same command again with the same input continues the unfinished job the
server has for it (the server finds it by the input's fingerprint): it never starts
or pays for a second one. Ctrl-C stops following (exit 130); the job goes on on the
server.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from contextlib import suppress
from typing import Any
from urllib.parse import quote

from addin.check_cli import (
    EXIT_BELOW_MINIMUM,
    EXIT_FAILED,
    EXIT_NEEDS_CONFIRMATION,
    EXIT_OK,
    EXIT_USAGE,
    PreparedInput,
    above_max_upload,
    below_minimum_reason,
    follow,
    interruptible,
    jobs_command,
    prepare_input,
    print_plan,
    write_results,
)
from addin.cli_output import EXIT_INTERRUPTED, CommandError, Output, is_terminal
from addin.config import Settings
from addin.engine.checker import JobProgress
from addin.engine.planning import shown_balance
from addin.engine.store import Answer
from addin.jobs_cli import announce_resend, job_exit_code, list_jobs, show_job
from addin.team_server import (
    EXIT_SERVER,
    EXIT_SIGN_IN,
    SIGN_IN_HINT,
    ServerError,
    ServerRefused,
    ServerUnreachable,
    TeamServer,
    server_url,
)
from addin.web.file_numbers import MAX_CHUNK_NUMBERS

#: The shortest pause between two progress readings of a team server's job.
FOLLOW_PAUSE = 1.0
#: Answers asked for in one request.
ANSWERS_PAGE = 50_000


def check_on_server(args: argparse.Namespace, ui: Output, settings: Settings) -> int:
    """Run ``fbcheck check --server``: read here, check on the server, write here."""
    base = _base_url(args.server)
    _ignore_local_key(settings, ui)
    token = sign_in(settings, base)
    prepared = prepare_input(args, settings)
    with _connect(base, token, settings, ui) as server:
        try:
            return _check(args, ui, settings, prepared, server)
        except ServerRefused as exc:
            return ui.error(EXIT_SERVER, f"the server refused the check: {exc.message}")
        except ServerError as exc:
            return ui.error(exc.code, exc.message)


def jobs_on_server(args: argparse.Namespace, ui: Output, settings: Settings) -> int:
    """Run ``fbcheck jobs ACTION --server``: the team server's jobs, not this computer's."""
    base = _base_url(args.server)
    _ignore_local_key(settings, ui)
    token = sign_in(settings, base)
    with _connect(base, token, settings, ui) as server:
        jobs = RemoteJobs(server)
        try:
            if args.action == "list":
                data = server.get("/api/jobs", {"limit": args.limit})
                found = [_progress(item) for item in _list_of(data, "jobs")]
                ui.set(jobs=[progress.as_dict() for progress in found])
                list_jobs(found, ui)
                return EXIT_OK
            progress = jobs.progress(args.job_id)
            if args.action == "resend":
                return _resend(jobs, progress, settings, ui)
            if args.action == "abandon":
                count = _decide(server, args.job_id, "abandon", "abandoned")
                ui.set(abandoned=count)
                ui.say(f"gave up {count} task(s) of job {args.job_id}")
                progress = jobs.progress(args.job_id)
            show_job(progress, ui, server=base)
            return job_exit_code(progress)
        except KeyboardInterrupt:
            return ui.error(EXIT_INTERRUPTED, "interrupted")
        except ServerRefused as exc:
            if exc.error == "job_not_found":
                return ui.error(
                    EXIT_USAGE,
                    f"the server has no job {args.job_id!r} (see `fbcheck jobs list --server"
                    f" {base}`)",
                )
            code = EXIT_USAGE if exc.status in (400, 404, 413) else EXIT_SERVER
            return ui.error(code, f"the server refused: {exc.message}")
        except ServerError as exc:
            return ui.error(exc.code, exc.message)


def sign_in(settings: Settings, base: str) -> str:
    """Return the personal token: ``FBCHECK_TOKEN``, else asked for on a terminal.

    Without a terminal nobody can answer, so the run stops (exit 10) instead of waiting.
    """
    token = settings.token.get_secret_value().strip() if settings.token is not None else ""
    if not token:
        if not is_terminal(sys.stdin):
            raise CommandError(
                EXIT_SIGN_IN,
                f"sign in: no token for {base} (FBCHECK_TOKEN is not set, and standard"
                f" input is not a terminal to ask on); {SIGN_IN_HINT}",
            )
        token = getpass.getpass(f"Personal token for {base} (not shown): ", stream=sys.stderr)
        token = token.strip()
        if not token:
            raise CommandError(EXIT_SIGN_IN, f"sign in: no token entered; {SIGN_IN_HINT}")
    if not token.isascii() or not token.isprintable() or " " in token:
        raise CommandError(
            EXIT_SIGN_IN,
            "sign in: the token holds spaces or characters a token never has; copy it again"
            f" exactly as printed; {SIGN_IN_HINT}",
        )
    return token


class RemoteJobs:
    """A team server's jobs as a :class:`~addin.check_cli.JobSource` for ``follow``."""

    def __init__(self, server: TeamServer) -> None:
        """Read jobs from ``server``."""
        self.server = server

    @property
    def demo(self) -> bool:
        """Return True when the server has no vendor key (its emulator answers)."""
        return self.server.demo

    @property
    def fatal(self) -> str | None:
        """Return None: a server's failure is an exception of the request."""
        return None

    def progress(self, job_id: str) -> JobProgress:
        """Return the job's progress (sent again while the server does not answer)."""
        return _progress(self.server.job(job_id))


def _check(
    args: argparse.Namespace,
    ui: Output,
    settings: Settings,
    prepared: PreparedInput,
    server: TeamServer,
) -> int:
    """Send the numbers, follow the job, fetch the answers and write the output."""
    base = server.base_url
    job_id: str | None = None
    held_reason: str | None = None
    starting = False
    try:
        with interruptible():
            size = min(settings.server_chunk_numbers, MAX_CHUNK_NUMBERS)
            chunks = [
                prepared.numbers[i : i + size] for i in range(0, len(prepared.numbers), size)
            ] or [[]]
            opened = server.request(
                "POST",
                "/api/file-jobs",
                body={
                    "fingerprint": prepared.fingerprint,
                    "chunks": len(chunks),
                    "refresh": bool(args.refresh),
                },
                again=True,
            )
            ui.set(demo=server.demo)
            if server.demo:
                ui.say(
                    f"DEMO: the server {base} has no vendor key; answers come from its bundled"
                    " emulator and are not real."
                )
            job_id = _text_or_none(opened, "job_id")
            continued = job_id is not None
            if job_id is None:
                upload_id = _text(opened, "upload_id")
                _send_numbers(server, upload_id, chunks)
                planned = server.request(
                    "POST",
                    f"/api/file-jobs/uploads/{quote(upload_id, safe='')}/plan",
                    body={
                        "rows": prepared.rows,
                        "invalid": prepared.invalid,
                        "label": args.input.name[:300],
                    },
                    long=True,
                )
                plan_id = _text(planned, "plan_id")
                summary = planned.get("plan")
                if not isinstance(summary, dict):
                    raise ServerUnreachable("the server's plan carries no estimate")
                print_plan(summary, prepared.table.header, ui)
                held = int(summary.get("held") or 0)
                if held:
                    held_reason = below_minimum_reason(held, int(summary["min_task_numbers"]))
                    ui.set(held=held)
                    ui.warn(f"not uploaded: {held_reason}")
                    if not (summary["cache_hits"] or summary["in_flight"]):
                        _discard(server, plan_id)
                        return EXIT_BELOW_MINIMUM
                message = above_max_upload(int(summary["to_upload"]) - held, args, settings)
                if message is not None:
                    _discard(server, plan_id)
                    ui.set(error=message)
                    ui.say(message)
                    return EXIT_NEEDS_CONFIRMATION
                starting = True
                try:
                    started = server.request(
                        "POST",
                        f"/api/file-jobs/plans/{quote(plan_id, safe='')}/start",
                        body={},
                        long=True,
                    )
                except ServerRefused as exc:
                    if exc.error != "balance_too_low":
                        raise
                    ui.set(error=exc.message)
                    ui.say(exc.message)
                    return EXIT_FAILED
                except ServerUnreachable as exc:
                    raise ServerUnreachable(
                        f"{exc.message}. The job may have started on the server: run the same"
                        " command again, it continues that job and starts none twice"
                    ) from None
                starting = False
                _say_balance(started, ui)
                job_id = _text(started, "job_id")
                continued = started.get("continued") is True
            ui.set(job_id=job_id, continued=continued)
            if continued:
                ui.say(
                    f"continuing job {job_id} on {base}, which an earlier run of this input"
                    " left unfinished (nothing it uploaded is uploaded again)"
                )
            jobs = RemoteJobs(server)
            before = (0, 0)
            if continued:
                snapshot = jobs.progress(job_id)
                before = (snapshot.billed, snapshot.possibly_billed)
            final = follow(
                jobs, job_id, ui, interval=settings.progress_interval, min_pause=FOLLOW_PAUSE
            )
            answers = fetch_answers(server, job_id)
    except KeyboardInterrupt:
        return _stopped_following(ui, base, job_id, args, starting=starting)
    ui.set(state=final.state)
    return write_results(
        args,
        ui,
        prepared,
        answers,
        final,
        demo=server.demo,
        before=before,
        held=held_reason,
        server=base,
    )


def _send_numbers(server: TeamServer, upload_id: str, chunks: list[list[str]]) -> None:
    """Send the numbers chunk by chunk (a chunk sent again under its index is taken once)."""
    for index, chunk in enumerate(chunks):
        server.request(
            "PUT",
            f"/api/file-jobs/uploads/{quote(upload_id, safe='')}/chunks/{index}",
            body={"numbers": chunk},
            again=True,
            long=True,
        )


def fetch_answers(server: TeamServer, job_id: str) -> dict[str, Any]:
    """Return the job's answers by E.164 number, page by page."""
    found: dict[str, Any] = {}
    after: str | None = None
    path = f"/api/file-jobs/{quote(job_id, safe='')}/answers"
    while True:
        params: dict[str, Any] = {"limit": ANSWERS_PAGE}
        if after is not None:
            params["after"] = after
        data = server.get(path, params)
        for row in _list_of(data, "answers"):
            if not (isinstance(row, list) and len(row) == 5 and isinstance(row[0], str)):
                raise ServerUnreachable(f"the server's answers of job {job_id} are malformed")
            number, answer, reason, source, checked_at = row
            found[number] = Answer(str(answer), reason, str(source), checked_at)
        after = _text_or_none(data, "next")
        if after is None:
            return found


def _stopped_following(
    ui: Output, base: str, job_id: str | None, args: argparse.Namespace, *, starting: bool
) -> int:
    """Say what Ctrl-C left on the server and how to pick it up again; return 130."""
    if job_id is None:
        if starting:
            report = (
                "interrupted while the server started the job: run the same command again;"
                " it continues the job if it started, and starts none twice"
            )
        else:
            report = "interrupted before the server started anything; nothing was billed"
        ui.set(error=report)
        ui.tell(f"\n{report}")
        return EXIT_INTERRUPTED
    report = (
        f"stopped following job {job_id}; it goes on on the server {base} (nothing is lost"
        " and nothing is sent again). To follow it again and write the results, run the same"
        f" command again: it continues job {job_id}. To see it: "
        f"{jobs_command('show', job_id, base)}"
    )
    ui.set(error=report)
    ui.tell(f"\n{report}")
    return EXIT_INTERRUPTED


def _resend(jobs: RemoteJobs, progress: JobProgress, settings: Settings, ui: Output) -> int:
    """Send the uncertain uploads again on the user's word and follow the job."""
    server = jobs.server
    count = _decide(server, progress.job_id, "resend", "resent")
    nothing = announce_resend(count, progress, ui, server=server.base_url)
    if nothing is not None:
        return nothing
    try:
        with interruptible():
            final = follow(
                jobs,
                progress.job_id,
                ui,
                interval=settings.progress_interval,
                min_pause=FOLLOW_PAUSE,
            )
    except KeyboardInterrupt:
        report = (
            f"stopped following job {progress.job_id}; it goes on on the server. To see it:"
            f" {jobs_command('show', progress.job_id, server.base_url)}"
        )
        return ui.error(EXIT_INTERRUPTED, report)
    show_job(final, ui, server=server.base_url)
    ui.say(
        f"run your `fbcheck check --server {server.base_url} ...` command again to write the"
        " results file (answered from the server's cache, nothing uploaded again)"
    )
    return job_exit_code(final)


def _decide(server: TeamServer, job_id: str, action: str, counted: str) -> int:
    """Give the user's word on a job's waiting uploads; return how many (0: none waited)."""
    try:
        data = server.request("POST", f"/api/jobs/{quote(job_id, safe='')}/{action}", body={})
    except ServerRefused as exc:
        if exc.error == "nothing_waits":
            return 0
        raise
    value = data.get(counted)
    return value if isinstance(value, int) else 0


def _discard(server: TeamServer, plan_id: str) -> None:
    """Drop a plan that is not started (it would expire by itself); failures do not matter."""
    with suppress(ServerError):
        server.request("POST", f"/api/plans/{quote(plan_id, safe='')}/discard", body={})


def _say_balance(started: dict[str, Any], ui: Output) -> None:
    """Print the v1 balance the server read before it started the job, if it read one."""
    balance = started.get("balance")
    if isinstance(balance, int | float) and not isinstance(balance, bool):
        ui.set(balance=balance)
        ui.say(
            f"balance: {shown_balance(balance)} (read from the vendor by the server now; this"
            " request may be billed)"
        )
    elif started.get("balance_error"):
        ui.say(
            f"balance: unknown ({started['balance_error']}); the vendor refuses what it cannot bill"
        )


def _base_url(url: str) -> str:
    """Return the checked ``--server`` URL, or stop with exit 2."""
    try:
        return server_url(url)
    except ValueError as exc:
        raise CommandError(EXIT_USAGE, str(exc)) from None


def _ignore_local_key(settings: Settings, ui: Output) -> None:
    """Say that this computer's vendor key and database play no part on a team server."""
    if settings.api_key is not None and settings.api_key.get_secret_value():
        ui.tell(
            "note: FBCHECK_API_KEY is set on this computer; with --server it is ignored and"
            " never sent (the team server holds the vendor key)"
        )
    if settings.database_url is not None and settings.database_url.get_secret_value().strip():
        ui.tell(
            "note: FBCHECK_DATABASE_URL is set on this computer; with --server it is ignored"
            " and never used or sent (the team server holds the store)"
        )


def _connect(base: str, token: str, settings: Settings, ui: Output) -> TeamServer:
    """Return the client of the team server, saying each retry on standard error."""
    return TeamServer(
        base_url=base,
        token=token,
        timeout=settings.request_timeout,
        long_timeout=settings.upload_timeout,
        retry_for=settings.server_retry_seconds,
        notice=lambda text: ui.tell(f"note: {text}"),
    )


def _progress(data: Any) -> JobProgress:
    """Return a job's progress from the server's JSON, or raise ``ServerUnreachable``."""
    try:
        if not isinstance(data, dict):
            raise TypeError("not an object")
        return JobProgress.from_dict(data)
    except (KeyError, TypeError) as exc:
        raise ServerUnreachable(f"the server's answer is not a job's progress ({exc})") from None


def _list_of(data: dict[str, Any], key: str) -> list[Any]:
    """Return ``data[key]`` when it is a list, else raise ``ServerUnreachable``."""
    value = data.get(key)
    if not isinstance(value, list):
        raise ServerUnreachable(f"the server's answer has no list {key!r}")
    return value


def _text(data: dict[str, Any], key: str) -> str:
    """Return ``data[key]`` when it is text, else raise ``ServerUnreachable``."""
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ServerUnreachable(f"the server's answer has no {key!r}")
    return value


def _text_or_none(data: dict[str, Any], key: str) -> str | None:
    """Return ``data[key]`` when it is text, None when absent or null."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ServerUnreachable(f"the server's answer has a {key!r} that is not text")
    return value
