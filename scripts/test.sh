#!/usr/bin/env bash
# The project's test command (README): installs what the tests need on a fresh machine, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# The openai Python SDK: mock-upstream's compatibility test drives it against the mock.
if ! python3 -c "import openai" 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check openai
fi
# The anthropic Python SDK: the same for the mock's /v1/messages.
if ! python3 -c "import anthropic" 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check anthropic
fi

# prometheus_client: tests/live_ui.rs parses `--ui`'s /metrics, and tests/mock_metrics.rs the
# mock's /_mock/metrics, with its OpenMetrics parser.
if ! python3 -c "import prometheus_client" 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check prometheus_client
fi

# Headless Chromium: the report's browser test opens report.html with it.
if ! command -v chromium >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
fi

cargo test --workspace --all-targets
# The latency-fidelity tests hold the generator to millisecond bounds: release build only.
cargo test --release -p relaybench-fidelity
