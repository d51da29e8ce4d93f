"""Local Telegram and Zalo Bot API emulators, a control API and a browser chat page.

`sandbox.server.Sandbox` serves everything on one port; `sandbox.client.SandboxClient` drives it
from tests. The page at `/` lists its test hooks at the top of `static/index.html`.
"""
