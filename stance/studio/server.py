"""The embedded Label Studio: one server per data directory, on 127.0.0.1 only.

``start`` creates a random admin password and API token the first time (kept in
``DATA_DIR/credentials.env``, mode 0600) and hands them to Label Studio through
its environment, never its command line, so other users cannot read them in
``ps``. Sign-up is closed; the server is detached and outlives the command.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import httpx

from stance.errors import StanceError
from stance.studio import DEFAULT_DATA_DIR
from stance.progress import stderr

DEFAULT_PORT = 8080
USERNAME = "admin@stance.local"
_STATE = "server.json"
_CREDENTIALS = "credentials.env"
_LOG = "server.log"


@dataclass(frozen=True)
class Credentials:
    url: str
    api_key: str
    username: str = ""
    password: str = ""

    def __repr__(self) -> str:  # never show the secrets, even in a traceback
        return f"Credentials(url={self.url!r}, username={self.username!r})"


@dataclass(frozen=True)
class ServerInfo:
    url: str
    pid: int
    data_dir: Path
    credentials_file: Path
    already_running: bool = False


def credentials_path(data_dir: str | os.PathLike = DEFAULT_DATA_DIR) -> Path:
    return Path(data_dir) / _CREDENTIALS


def read_credentials(path: str | os.PathLike) -> Credentials:
    """Parse a ``credentials.env`` file (``KEY=value`` lines)."""
    values = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip()
    return Credentials(values.get("LABEL_STUDIO_URL", ""), values.get("LABEL_STUDIO_API_KEY", ""),
                       values.get("LABEL_STUDIO_USERNAME", ""), values.get("LABEL_STUDIO_PASSWORD", ""))


def _write_credentials(path: Path, creds: Credentials) -> None:
    text = (f"LABEL_STUDIO_URL={creds.url}\nLABEL_STUDIO_API_KEY={creds.api_key}\n"
            f"LABEL_STUDIO_USERNAME={creds.username}\nLABEL_STUDIO_PASSWORD={creds.password}\n")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)  # also when the file existed with looser bits


def status(data_dir: str | os.PathLike = DEFAULT_DATA_DIR) -> ServerInfo | None:
    """The server this data dir started, if it is still running and answering."""
    data_dir = Path(data_dir).resolve()  # as start and stop see it: a relative path names the same server
    state = _read_state(data_dir)
    if state and _is_our_server(state["pid"], data_dir) and _healthy(state["url"]):
        return ServerInfo(state["url"], state["pid"], data_dir, credentials_path(data_dir), True)
    return None


def start(data_dir: str | os.PathLike = DEFAULT_DATA_DIR, port: int = DEFAULT_PORT, *,
          timeout: float = 600, progress: bool = False) -> ServerInfo:
    """Start Label Studio for ``data_dir`` (or report the one already running) and wait until it answers."""
    data_dir = Path(data_dir).resolve()
    running = status(data_dir)
    if running:
        return running
    executable = _label_studio_executable()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not _port_free(port):
        raise StanceError(f"port {port} on 127.0.0.1 is already in use; choose another {{port}}", port=...)
    url = f"http://127.0.0.1:{port}"
    creds_file = credentials_path(data_dir)
    if creds_file.is_file():
        creds = read_credentials(creds_file)
        creds = Credentials(url, creds.api_key, creds.username, creds.password)
    else:
        creds = Credentials(url, secrets.token_hex(20), USERNAME, secrets.token_urlsafe(18))
    _write_credentials(creds_file, creds)
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_USERNAME": creds.username,
        "LABEL_STUDIO_PASSWORD": creds.password,
        "LABEL_STUDIO_USER_TOKEN": creds.api_key,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "LABEL_STUDIO_HOST": url,
        # Label Studio refuses to call back into 127.0.0.0/8 (SSRF protection); `stance serve`, the ML
        # backend, listens there beside this server. Every other reserved range stays banned.
        "USE_DEFAULT_BANNED_SUBNETS": "false",
        "USER_ADDITIONAL_BANNED_SUBNETS": ",".join(_BANNED_BUT_LOOPBACK),
    }
    command = [executable, "start", "--no-browser", "--data-dir", str(data_dir), "--internal-host", "127.0.0.1",
               "--port", str(port), "--enable-legacy-api-token"]
    log = open(data_dir / _LOG, "ab")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True, cwd=data_dir)
    log.close()
    (data_dir / _STATE).write_text(json.dumps({"pid": process.pid, "url": url, "port": port}) + "\n")
    _wait_until_ready(process, creds, data_dir, timeout, progress)
    return ServerInfo(url, process.pid, data_dir, creds_file)


def stop(data_dir: str | os.PathLike = DEFAULT_DATA_DIR, timeout: float = 30) -> bool:
    """Stop the server this data dir started; False if none was running. Never touches other servers."""
    data_dir = Path(data_dir).resolve()
    state = _read_state(data_dir)
    if not state:
        return False
    pid = state["pid"]
    (data_dir / _STATE).unlink(missing_ok=True)
    if not _is_our_server(pid, data_dir):
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _group_alive(pid):
        time.sleep(0.2)
    if _group_alive(pid):
        os.killpg(pid, signal.SIGKILL)
    while time.monotonic() < deadline and _healthy(state["url"]):
        time.sleep(0.2)
    return True


def _group_alive(pgid: int) -> bool:
    """Any process of the server's group (Label Studio may run workers beside the leader) is left."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return _alive(pgid) or _has_live_member(pgid)


def _has_live_member(pgid: int) -> bool:
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _wait_until_ready(process: subprocess.Popen, creds: Credentials, data_dir: Path, timeout: float,
                      progress: bool) -> None:
    deadline = time.monotonic() + timeout
    message = "starting Label Studio (the first start migrates its database: about a minute)"
    with stderr.status(message) if progress else nullcontext():
        while time.monotonic() < deadline:
            if process.poll() is not None:
                (data_dir / _STATE).unlink(missing_ok=True)
                raise StanceError(f"Label Studio exited with status {process.returncode} while starting; "
                                  f"the end of {data_dir / _LOG}:\n{_tail(data_dir / _LOG)}")
            if _healthy(creds.url) and _token_works(creds):
                return
            time.sleep(0.5)
    raise StanceError(f"Label Studio did not answer at {creds.url} within {timeout:.0f} s; see {data_dir / _LOG}")



def _label_studio_executable() -> str:
    beside_python = Path(sys.executable).parent / "label-studio"
    found = str(beside_python) if beside_python.exists() else shutil.which("label-studio")
    if not found:
        raise StanceError("the Label Studio server is not installed; install it with: pip install 'stance[studio]'")
    return found


def _read_state(data_dir: Path) -> dict | None:
    try:
        return json.loads((data_dir / _STATE).read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie left by a parent that has not reaped it yet is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _is_our_server(pid: int, data_dir: Path) -> bool:
    """The pid is alive and is Label Studio started on this data dir (pids get reused)."""
    if not _alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc: trust the state file
    return any(b"label-studio" in part or b"label_studio" in part for part in cmdline) and \
        str(data_dir).encode() in cmdline


#: Label Studio's default banned subnets (core/utils/io.py, 1.23) less IPv4 loopback.
_BANNED_BUT_LOOPBACK = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4", "233.252.0.0/24", "240.0.0.0/4", "255.255.255.255/32", "::/128", "::1/128", "::ffff:0:0/96",
    "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001:0000::/32", "2001:20::/28",
    "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
)


def pick_port(preferred: int = DEFAULT_PORT) -> int:
    """``preferred`` if it is free on 127.0.0.1, else any free port."""
    if _port_free(preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no obstacle
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _token_works(creds: Credentials) -> bool:
    try:
        answer = httpx.get(f"{creds.url}/api/current-user/whoami",
                           headers={"Authorization": f"Token {creds.api_key}"}, timeout=5)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
