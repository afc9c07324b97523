"""Shared paths: the repository's test vectors, and the command-line tool to compare with."""

import json
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
VECTORS = ROOT / "test-vectors"
SAMPLES = VECTORS / "export-samples"


def load(name):
    return json.loads((VECTORS / name).read_text())


@pytest.fixture(scope="session")
def cli():
    """Runs the `bluezone` command-line tool (BLUEZONE_CLI, or the release build)."""
    tool = os.environ.get("BLUEZONE_CLI", str(ROOT / "target" / "release" / "bluezone"))
    if not pathlib.Path(tool).exists():
        pytest.fail(f"the command-line tool is not built at {tool}; set BLUEZONE_CLI")

    def run(*args):
        done = subprocess.run([tool, *args], capture_output=True, text=True, cwd=ROOT)
        return json.loads(done.stdout)

    return run
