"""The REST calls the PR bot makes, over githubkit, for one repository.

Two ways in: an App installation (`app_client`: githubkit signs a JWT with the App's private key
and trades it for an installation token, which it caches and renews) or a plain token
(`token_client`: GITHUB_TOKEN in Actions). Replies are read as JSON rather than githubkit's
models so a field GitHub adds or drops later does not break the bot.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass

MARKER = "<!-- msagent-report -->"
PAGE = 100


@dataclass(frozen=True)
class ChangedFile:
    path: str
    status: str  # added | modified | removed | renamed | copied | changed | unchanged


def _github(auth, api_url: str):
    from githubkit import GitHub
    from githubkit.cache import MemCacheStrategy

    # Own token cache per client (not githubkit's process-wide one); no HTTP caching: the bot
    # must see the comments as they are now, not as they were.
    return GitHub(auth, base_url=api_url.rstrip("/") + "/", cache_strategy=MemCacheStrategy(), http_cache=False,
                  user_agent="msagent-bot")


def app_client(api_url: str, app_id: str | int, private_key: str, installation_id: int):
    """A githubkit client acting as one installation of the App."""
    from githubkit import AppAuthStrategy

    return _github(AppAuthStrategy(app_id, private_key).as_installation(installation_id), api_url)


def token_client(api_url: str, token: str):
    """A githubkit client authenticated with a token (GITHUB_TOKEN in Actions)."""
    from githubkit import TokenAuthStrategy

    return _github(TokenAuthStrategy(token), api_url)


class RepoAPI:
    """The bot's view of one repository: read a PR, fetch files at a commit, report back."""

    def __init__(self, gh, full_name: str) -> None:
        self.gh = gh
        self.owner, _, self.repo = full_name.partition("/")
        if not self.owner or not self.repo or "/" in self.repo:
            raise ValueError(f"repository must be OWNER/NAME, not {full_name!r}")

    # -- reading -----------------------------------------------------------------------------
    def changed_files(self, number: int) -> list[ChangedFile]:
        """Every file the PR touches (GitHub lists at most 3000)."""
        out: list[ChangedFile] = []
        page = 1
        while True:
            resp = self.gh.rest.pulls.list_files(self.owner, self.repo, number, per_page=PAGE, page=page)
            batch = resp.json()
            out += [ChangedFile(e["filename"], e["status"]) for e in batch]
            if len(batch) < PAGE:
                return out
            page += 1

    def tree(self, sha: str) -> tuple[list[dict], bool]:
        """The files at commit `sha` ({"path", "sha", "size", "type"}) and whether GitHub truncated the list."""
        resp = self.gh.rest.git.get_tree(self.owner, self.repo, sha, recursive="1")
        data = resp.json()
        return [e for e in data.get("tree", []) if e.get("type") == "blob"], bool(data.get("truncated"))

    def blob(self, sha: str) -> bytes:
        data = self.gh.rest.git.get_blob(self.owner, self.repo, sha).json()
        if data.get("encoding") != "base64":
            return data.get("content", "").encode()
        return base64.b64decode(data["content"])

    # -- reporting ---------------------------------------------------------------------------
    def create_check_run(self, head_sha: str, conclusion: str, title: str, summary: str, text: str = "") -> int:
        data = {"name": "msagent", "head_sha": head_sha, "status": "completed", "conclusion": conclusion,
                "output": {"title": title[:255], "summary": summary[:65000]}}
        if text:
            data["output"]["text"] = text[:65000]
        return self.gh.rest.checks.create(self.owner, self.repo, data=data).json()["id"]

    def find_report_comment(self, number: int) -> int | None:
        """The id of the bot's report comment on the PR (a bot-authored comment with the marker)."""
        page = 1
        while True:
            batch = self.gh.rest.issues.list_comments(self.owner, self.repo, number, per_page=PAGE, page=page).json()
            for c in batch:
                if MARKER in (c.get("body") or "") and (c.get("user") or {}).get("type") == "Bot":
                    return c["id"]
            if len(batch) < PAGE:
                return None
            page += 1

    def upsert_report_comment(self, number: int, body: str) -> tuple[int, bool]:
        """Edit the report comment in place, or create it on the first run. Returns (id, created)."""
        if MARKER not in body:
            body = f"{MARKER}\n{body}"
        existing = self.find_report_comment(number)
        if existing is not None:
            self.gh.rest.issues.update_comment(self.owner, self.repo, existing, data={"body": body})
            return existing, False
        resp = self.gh.rest.issues.create_comment(self.owner, self.repo, number, data={"body": body})
        return resp.json()["id"], True
