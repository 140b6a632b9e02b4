import os, signal, time, subprocess, sys
from pathlib import Path
import pytest
from tests.web.conftest import SECRET_KEY
from tests.web.test_team_cli import env  # noqa: F401
from tests.web.test_team_cli import serving_team, port_of, add_user
from tests.test_server_check import laptop_env, write_input, swiss, start

def test_repro(env, certificate, emulators):
    vendor = emulators.start(MOCK_PROFILE="instant", MOCK_API_KEYS={SECRET_KEY: 1_000_000})
    settings = {"FBCHECK_API_URL": vendor.url, "FBCHECK_REGION": "CH",
        "FBCHECK_POLL_MIN_INTERVAL": "0.05", "FBCHECK_POLL_MAX_INTERVAL": "0.3", "PYTHONFAULTHANDLER": "1"}
    with serving_team(env, certificate, **settings) as (lines, server_env, alice):
        import threading
        bob = add_user(env, server_env, "bob")
        base, ca = f"https://localhost:{port_of(lines)}", str(certificate.ca_file)
        source = write_input(env / "in.csv", swiss(12))
        laptop = laptop_env(env, FBCHECK_TOKEN=alice, REQUESTS_CA_BUNDLE=ca, PYTHONFAULTHANDLER="1")
        p = start(env, laptop, "check", "--server", base, str(source), "-o", str(env/"out.csv"))
        time.sleep(25)
        print("vendor tasks", vendor.tasks())
        p.send_signal(signal.SIGABRT)
        out, err = p.communicate()
        print("CLI OUT", out, "ERR", err[-6000:])
        assert False
