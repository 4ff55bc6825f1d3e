"""The eval suite runner: migrate every case under evals/cases, score it against the case's
expectations (case.toml), and sum the scores (`msagent eval`).

- `score`: read a case, score one migration report, sum scores over cases.
- `run`: run cases on warm local workers (or a Ray cluster) and print the result.
- `table`: the human-readable table and the comparison with an earlier run.
- `distributed`: the Ray actors, each holding its own warm verification worker.
"""
