"""What the SDK check scripts (`openai_sdk_check.py`, `anthropic_sdk_check.py`) share: importing
the SDK under test, and changing the mock's faults through its control endpoint."""

import importlib
import json
import sys
import urllib.request


def import_sdk(name):
    """The SDK module `name`; exits 3 saying what to install when it cannot be imported."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        print(f"FAIL: cannot import {name} ({e}); run `pip install {name}`", file=sys.stderr)
        sys.exit(3)


def put_faults(base, config):
    """Replaces the mock's config (`PUT /_mock/faults`); fails unless the mock accepts it."""
    req = urllib.request.Request(
        base + "/_mock/faults",
        data=json.dumps(config).encode(),
        method="PUT",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200, r.status
