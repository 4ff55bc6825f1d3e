"""The CLI's entry points: the console script and `python -m agent`."""
def test_version_and_module_entry_point():
    import subprocess
    import sys
    from pathlib import Path

    from agent import __version__

    root = Path(__file__).resolve().parents[1]
    for argv in ([str(root / ".venv" / "bin" / "msagent"), "--version"], [sys.executable, "-m", "agent", "--version"]):
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=root, timeout=60)
        assert proc.returncode == 0 and proc.stdout.strip() == f"msagent {__version__}", proc.stderr
