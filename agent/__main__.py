"""`python -m agent` is the `msagent` command."""
from agent.cli.main import app

app(prog_name="msagent")
