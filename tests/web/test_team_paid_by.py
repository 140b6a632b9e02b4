"""Every estimate on the team server says how many of its numbers colleagues already paid for.

A real team server over HTTPS on one PostgreSQL store (the throwaway cluster), its vendor
the emulator: alice's job is answered and billed; bob's overlapping job's estimate counts
her numbers as paid for by colleagues, and the emulator's ledger shows he is billed only
for the rest. Both through the cache, and by joining her task while it is still open.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from addin.web.certs import ServerCertificate
from tests.conftest import Emulator, Emulators
from tests.web.conftest import SECRET_KEY
from tests.web.engine_app import number, payload, wait_for
from tests.web.test_team_server import CHECK, Team, plan_file_job, team_server


@contextmanager
def shared_team(
    tmp_path: Path, certificate: ServerCertificate, pg_store_url: str, vendor: Emulator
) -> Iterator[Team]:
    """Yield a team server on the PostgreSQL store, its vendor ``vendor`` (the key in a file)."""
    key_file = tmp_path / "vendor-key"
    key_file.write_text(SECRET_KEY + "\n", encoding="utf-8")
    with team_server(
        tmp_path,
        certificate,
        api_key_file=key_file,
        api_url=vendor.url,
        database_url=pg_store_url,
    ) as team:
        assert team.store.dialect == "postgresql"
        yield team


def start(team: Team, token: str, plan_id: str) -> str:
    """Start a planned file job; return its id."""
    started = team.ok("POST", f"/api/file-jobs/plans/{plan_id}/start", token, json={})
    return str(started["job_id"])


def finished(team: Team, token: str, job_id: str) -> dict[str, Any]:
    """Wait until the job finished; return it."""
    job: dict[str, Any] = wait_for(
        lambda: (j := team.ok("GET", f"/api/jobs/{job_id}", token))["finished"] and j,
        timeout=60,
    )
    return job


def answers(team: Team, token: str, job_id: str) -> dict[str, str]:
    """Return {e164: answer} of a file job."""
    page = team.ok("GET", f"/api/file-jobs/{job_id}/answers", token)["answers"]
    return {row[0]: row[1] for row in page}


def uploads(vendor: Emulator) -> list[list[str]]:
    """Return the numbers of each task the vendor was sent, oldest first."""
    return [sorted(t["uploaded_numbers"]) for t in vendor.tasks(with_numbers=True)]


def test_bobs_estimate_counts_the_answers_alice_paid_for_and_he_pays_the_rest(
    tmp_path: Path,
    certificate: ServerCertificate,
    pg_store_url: str,
    emulators: Emulators[Emulator],
) -> None:
    vendor = emulators.start(MOCK_API_KEYS={SECRET_KEY: 1000})
    with shared_team(tmp_path, certificate, pg_store_url, vendor) as team:
        alice, bob = team.add("alice"), team.add("bob")
        hers = [number(i) for i in range(10)]
        first, estimate = plan_file_job(team, alice, hers)
        assert (estimate["to_upload"], estimate["paid_by_colleagues"]) == (10, 0)
        alices_job = finished(team, alice, start(team, alice, first))
        after_alice = vendor.ledger()
        assert (after_alice["tasks_created"], after_alice["numbers_uploaded"]) == (1, 10)
        assert alices_job["billed"] == after_alice["billed_total"]

        # Bob's input: 5 of her numbers (cached, paid for by her) and 5 new ones.
        his = [number(i) for i in range(5, 15)]
        second, estimate = plan_file_job(team, bob, his)
        assert (estimate["cache_hits"], estimate["in_flight"]) == (5, 0)
        assert (estimate["paid_by_colleagues"], estimate["to_upload"]) == (5, 5)
        bobs_job = finished(team, bob, start(team, bob, second))
        assert bobs_job["plan"]["paid_by_colleagues"] == 5
        ledger = vendor.ledger()
        # Billed only for the rest: one more task of his 5 new numbers.
        assert (ledger["tasks_created"], ledger["numbers_uploaded"]) == (2, 15)
        assert uploads(vendor) == [sorted(hers), sorted(his[5:])]
        assert bobs_job["billed"] == ledger["billed_total"] - after_alice["billed_total"]
        assert bobs_job["billed"] > 0
        theirs = answers(team, alice, alices_job["job_id"])
        bobs_answers = answers(team, bob, bobs_job["job_id"])
        assert {n: bobs_answers[n] for n in his[:5]} == {n: theirs[n] for n in his[:5]}

        # Alice's own answers are not her colleagues': her estimate of them says 0.
        again, estimate = plan_file_job(team, alice, hers[:3])
        assert (estimate["cache_hits"], estimate["paid_by_colleagues"]) == (3, 0)
        team.ok("POST", f"/api/plans/{again}/discard", alice, json={})
        # The pane's estimate (a ribbon check) says it too: 3 of alice's, 1 of bob's own.
        cells = [number(0), number(1), number(2), number(14)]
        body = team.ok("POST", CHECK, bob, json=payload(("A1:A4", cells)))
        assert (body["plan"]["cache_hits"], body["plan"]["paid_by_colleagues"]) == (4, 3)
        assert vendor.ledger()["numbers_uploaded"] == 15


def test_bob_joins_alices_open_task_and_his_estimate_counts_it_as_paid_by_her(
    tmp_path: Path,
    certificate: ServerCertificate,
    pg_store_url: str,
    emulators: Emulators[Emulator],
) -> None:
    # Tasks wait an hour in the vendor's queue (emulator time): alice's stays open.
    vendor = emulators.start(MOCK_API_KEYS={SECRET_KEY: 1000}, MOCK_QUEUE_DELAY=3600)
    with shared_team(tmp_path, certificate, pg_store_url, vendor) as team:
        alice, bob = team.add("alice"), team.add("bob")
        hers = [number(i) for i in range(10)]
        alices = start(team, alice, plan_file_job(team, alice, hers)[0])
        wait_for(lambda: vendor.ledger()["tasks_created"] == 1, timeout=30)

        his = [number(i) for i in range(5, 15)]
        second, estimate = plan_file_job(team, bob, his)
        assert (estimate["cache_hits"], estimate["in_flight"]) == (0, 5)
        assert (estimate["paid_by_colleagues"], estimate["to_upload"]) == (5, 5)
        bobs = start(team, bob, second)
        wait_for(lambda: vendor.ledger()["tasks_created"] == 2, timeout=30)
        vendor.advance(7200)  # both tasks finish at the vendor
        alices_job = finished(team, alice, alices)
        bobs_job = finished(team, bob, bobs)
        assert bobs_job["plan"]["paid_by_colleagues"] == 5
        ledger = vendor.ledger()
        assert (ledger["tasks_created"], ledger["numbers_uploaded"]) == (2, 15)
        assert Counter(n for task in uploads(vendor) for n in task) == Counter([*hers, *his[5:]])
        assert sorted(his[5:]) in uploads(vendor)  # his own task holds only his new numbers
        theirs = answers(team, alice, alices_job["job_id"])
        bobs_answers = answers(team, bob, bobs_job["job_id"])
        assert set(bobs_answers) == set(his)
        assert {n: bobs_answers[n] for n in his[:5]} == {n: theirs[n] for n in his[:5]}
