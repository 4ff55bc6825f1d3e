"""The PR bot: check a pull request's PyTorch changes by migrating and verifying them, then
report on GitHub with one check run and one comment kept up to date.

`webhook` (signatures, delivery ids) → `server` (App mode) or `action` (Actions mode) →
`review` (one PR, start to end) → `fetch` (code at the head commit), `comment` (the verdict and
its Markdown), `github` (the REST calls, over githubkit).
"""
