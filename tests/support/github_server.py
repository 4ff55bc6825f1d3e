"""A local stand-in for the GitHub REST API, enough for the PR bot: a real HTTP server on
127.0.0.1 with in-memory repositories, pull requests, comments and check runs. It checks
credentials the way GitHub does (an App's JWT only for /app endpoints, an installation or
Actions token for the rest) and records every request so tests can read what the bot did.

    with GitHubServer(app_id=7, app_public_key=pem) as gh:
        gh.add_commit("octo/models", "a" * 40, {"net.py": b"..."})
        gh.set_pull("octo/models", 1, head_sha="a" * 40, changed=["net.py"])
        ... gh.url is the API base ...
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def blob_sha(content: bytes) -> str:
    """Git's object id of a blob, so tree entries look like GitHub's."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    headers: dict
    body: object


@dataclass
class Repo:
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # sha -> path -> content
    pulls: dict[int, dict] = field(default_factory=dict)  # number -> {"head_sha", "files": [...]}
    comments: list[dict] = field(default_factory=list)
    check_runs: list[dict] = field(default_factory=list)


class GitHubServer:
    """In-memory GitHub. `tokens` are accepted as-is (an Actions GITHUB_TOKEN); an App's
    installation tokens are minted by POST /app/installations/{id}/access_tokens."""

    def __init__(self, app_id: int | None = None, app_public_key: bytes | None = None,
                 tokens: tuple[str, ...] = (), bot_login: str = "msagent[bot]") -> None:
        self.app_id, self.app_public_key = app_id, app_public_key
        self.tokens = set(tokens)
        self.bot_login = bot_login
        self.repos: dict[str, Repo] = {}
        self.requests: list[Recorded] = []
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> "GitHubServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "GitHubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- state set up by tests ---------------------------------------------------------------
    def repo(self, full_name: str) -> Repo:
        return self.repos.setdefault(full_name, Repo())

    def add_commit(self, full_name: str, sha: str, files: dict[str, bytes | str]) -> None:
        self.repo(full_name).commits[sha] = {p: c.encode() if isinstance(c, str) else c for p, c in files.items()}

    def set_pull(self, full_name: str, number: int, head_sha: str, changed: list[str],
                 removed: tuple[str, ...] = ()) -> None:
        entries = [{"filename": p, "status": "modified"} for p in changed]
        entries += [{"filename": p, "status": "removed"} for p in removed]
        self.repo(full_name).pulls[number] = {"head_sha": head_sha, "files": entries}

    def calls(self, method: str | None = None, pattern: str = "") -> list[Recorded]:
        """Recorded requests, optionally filtered by method and a regex over the path."""
        return [r for r in self.requests
                if (method is None or r.method == method) and re.search(pattern, r.path)]

    def api_calls(self) -> list[Recorded]:
        """Requests other than minting installation tokens: what the bot did to the repository."""
        return [r for r in self.requests if not r.path.startswith("/app/")]

    # -- request handling ----------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict, headers: dict, body) -> tuple[int, object]:
        with self._lock:
            self.requests.append(Recorded(method, path, query, headers, body))
            auth = headers.get("authorization", "")
            if path.startswith("/app/"):
                return self._app_endpoint(method, path, auth)
            token = auth.split(" ", 1)[1] if " " in auth else ""
            if token not in self.tokens:
                return 401, {"message": "Bad credentials"}
            m = re.fullmatch(r"/repos/([^/]+/[^/]+)(/.*)", path)
            if not m or m.group(1) not in self.repos:
                return 404, {"message": "Not Found"}
            return self._repo_endpoint(self.repos[m.group(1)], method, m.group(2), query, body)

    def _app_endpoint(self, method: str, path: str, auth: str) -> tuple[int, object]:
        import jwt  # PyJWT: checks the App's RS256 signature as GitHub does

        m = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
        if method != "POST" or not m or self.app_public_key is None:
            return 404, {"message": "Not Found"}
        try:
            claims = jwt.decode(auth.removeprefix("Bearer ").strip(), self.app_public_key, algorithms=["RS256"])
        except jwt.PyJWTError as exc:
            return 401, {"message": f"A JSON web token could not be decoded: {exc}"}
        if str(claims.get("iss")) != str(self.app_id):
            return 401, {"message": "'Issuer' claim ('iss') must be the App's id"}
        token = f"ghs_installation_{m.group(1)}_{next(self._ids)}"
        self.tokens.add(token)
        return 201, {"token": token, "expires_at": "2099-01-01T00:00:00Z", "permissions": {},
                     "repository_selection": "all"}

    def _repo_endpoint(self, repo: Repo, method: str, rest: str, query: dict, body) -> tuple[int, object]:
        page, per_page = int(query.get("page", 1)), int(query.get("per_page", 30))
        if m := re.fullmatch(r"/pulls/(\d+)/files", rest):
            pull = repo.pulls.get(int(m.group(1)))
            if pull is None:
                return 404, {"message": "Not Found"}
            files = repo.commits.get(pull["head_sha"], {})
            entries = [self._diff_entry(e, files) for e in pull["files"]]
            return 200, entries[(page - 1) * per_page: page * per_page]
        if m := re.fullmatch(r"/git/trees/([0-9a-f]{40})", rest):
            files = repo.commits.get(m.group(1))
            if files is None:
                return 404, {"message": "Not Found"}
            return 200, {"sha": m.group(1), "url": "", "truncated": False, "tree": self._tree(files)}
        if m := re.fullmatch(r"/git/blobs/([0-9a-f]{40})", rest):
            for files in repo.commits.values():
                for content in files.values():
                    if blob_sha(content) == m.group(1):
                        return 200, {"sha": m.group(1), "size": len(content), "url": "", "node_id": "B",
                                     "encoding": "base64", "content": base64.encodebytes(content).decode()}
            return 404, {"message": "Not Found"}
        if rest == "/check-runs" and method == "POST":
            run = {"id": next(self._ids), **body}
            repo.check_runs.append(run)
            return 201, self._check_run(run)
        if m := re.fullmatch(r"/issues/(\d+)/comments", rest):
            number = int(m.group(1))
            if method == "POST":
                comment = {"id": next(self._ids), "issue": number, "body": body["body"], "edits": 0}
                repo.comments.append(comment)
                return 201, self._comment(comment)
            mine = [self._comment(c) for c in repo.comments if c["issue"] == number]
            return 200, mine[(page - 1) * per_page: page * per_page]
        if (m := re.fullmatch(r"/issues/comments/(\d+)", rest)) and method == "PATCH":
            for c in repo.comments:
                if c["id"] == int(m.group(1)):
                    c["body"], c["edits"] = body["body"], c["edits"] + 1
                    return 200, self._comment(c)
            return 404, {"message": "Not Found"}
        return 404, {"message": f"no such endpoint here: {method} {rest}"}

    # -- response shapes (the fields GitHub's schema requires) -----------------------------------
    @staticmethod
    def _diff_entry(entry: dict, files: dict[str, bytes]) -> dict:
        content = files.get(entry["filename"], b"")
        return {"sha": blob_sha(content), "filename": entry["filename"], "status": entry["status"],
                "additions": 1, "deletions": 0, "changes": 1, "blob_url": "", "raw_url": "", "contents_url": ""}

    @staticmethod
    def _tree(files: dict[str, bytes]) -> list[dict]:
        dirs = sorted({"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)})
        tree = [{"path": d, "mode": "040000", "type": "tree", "sha": "0" * 40, "url": ""} for d in dirs]
        tree += [{"path": p, "mode": "100644", "type": "blob", "sha": blob_sha(c), "size": len(c), "url": ""}
                 for p, c in sorted(files.items())]
        return tree

    def _comment(self, c: dict) -> dict:
        return {"id": c["id"], "node_id": "C", "url": "", "html_url": "", "body": c["body"],
                "user": {"login": self.bot_login, "id": 1, "type": "Bot"}, "created_at": "2024-01-01T00:00:00Z",
                "updated_at": "2024-01-01T00:00:00Z", "issue_url": "", "author_association": "NONE"}

    @staticmethod
    def _check_run(run: dict) -> dict:
        return {"id": run["id"], "head_sha": run.get("head_sha"), "node_id": "R", "external_id": None, "url": "",
                "html_url": None, "details_url": None, "status": run.get("status"),
                "conclusion": run.get("conclusion"), "started_at": None, "completed_at": None,
                "output": {"title": None, "summary": None, "text": None, "annotations_count": 0,
                           "annotations_url": ""}, "name": run.get("name"), "check_suite": None, "app": None,
                "pull_requests": []}


def _handler_for(server: GitHubServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = server.handle(self.command, parts.path, query, headers, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _serve

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

    return Handler
