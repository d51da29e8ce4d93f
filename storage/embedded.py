"""The embedded SecantusDB server: a MongoDB-wire child process for dev, sandbox and tests."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import sys
from pathlib import Path

from pymongo import AsyncMongoClient

log = logging.getLogger(__name__)

PORT_FILE = "khaibao.port"


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_command(fixed_clock: bool) -> list[str]:
    if fixed_clock:
        return [sys.executable, "-m", "storage.secantusd_frozen"]
    beside_python = Path(sys.executable).with_name("secantusd-py")
    found = str(beside_python) if beside_python.exists() else shutil.which("secantusd-py")
    if not found:
        raise RuntimeError("secantusd-py not found: install the project (pip install -e .)")
    return [found]


def uri_for(port: int) -> str:
    """The connection string of a server on a loopback port."""
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


async def is_alive(uri: str, timeout_ms: int = 500) -> bool:
    """True when a server answers ping at `uri`."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        uri, serverSelectionTimeoutMS=timeout_ms
    )
    try:
        await client.admin.command("ping")
        return True
    except Exception:
        return False
    finally:
        await client.close()


class EmbeddedMongo:
    """Starts `secantusd-py` on a free loopback port with data in `path`; stops it on exit.

    For tests: `fixed_clock` turns off the TTL sweeper, which expires documents by the
    server's real clock and so would delete what a simulated day stores at once;
    `test_commands` enables `configureFailPoint` for fault injection.
    """

    def __init__(
        self, path: Path | str, fixed_clock: bool = False, test_commands: bool = False
    ) -> None:
        self.path = str(path)
        self.port = 0
        self._fixed_clock = fixed_clock
        self._test_commands = test_commands
        self._process: asyncio.subprocess.Process | None = None

    @property
    def uri(self) -> str:
        """Connection string of the running server."""
        return uri_for(self.port)

    async def start(self, timeout: float = 30.0) -> str:
        """Start the server, wait for ping, and return its URI."""
        if self.path != ":memory:":
            Path(self.path).mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        # The server logs to our stderr only on errors; its chatter would drown ours.
        self._process = await asyncio.create_subprocess_exec(
            *_server_command(self._fixed_clock),
            *self._options(),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            self.path,
            "--log-level",
            "ERROR",
            stdout=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = asyncio.get_running_loop().time() + timeout
        while not await is_alive(self.uri, timeout_ms=300):
            if self._process.returncode is not None:
                raise RuntimeError(f"embedded database exited with code {self._process.returncode}")
            if asyncio.get_running_loop().time() > deadline:
                await self.stop()
                raise RuntimeError("embedded database did not answer ping in time")
            await asyncio.sleep(0.1)
        self._write_port_file()
        log.info("embedded database started", extra={"port": self.port, "path": self.path})
        return self.uri

    def _options(self) -> list[str]:
        return ["--enable-test-commands"] if self._test_commands else []

    def _write_port_file(self) -> None:
        if self.path != ":memory:":
            Path(self.path, PORT_FILE).write_text(str(self.port))

    async def stop(self) -> None:
        """Stop the server cleanly (SIGTERM, then SIGKILL after 10 s)."""
        process, self._process = self._process, None
        if process is None:
            return
        if self.path != ":memory:":
            Path(self.path, PORT_FILE).unlink(missing_ok=True)
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def running_server(path: Path) -> str | None:
    """URI of an embedded server another process already runs on `path`, if any."""
    port_file = path / PORT_FILE
    if not port_file.exists():
        return None
    uri = uri_for(int(port_file.read_text().strip() or 0))
    return uri if await is_alive(uri) else None
