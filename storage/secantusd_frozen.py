"""`secantusd-py` with its TTL sweeper off, for servers under a simulated clock (tests).

The sweeper expires documents by the server's real clock, so it would delete what a simulated
day stores (conversations, attempt counters) at once. secantusdb 0.7.0b3's command line reads
`ttl_sweep_seconds` from its config file but never hands it to the server, so the setting is
passed here instead.
"""

from __future__ import annotations

import functools
import sys

from secantus import cli


def main() -> int:
    """Run the server's own command line with the sweeper disabled."""
    cli.SecantusDBServer = functools.partial(cli.SecantusDBServer, ttl_sweep_seconds=0)
    return int(cli.main() or 0)


if __name__ == "__main__":
    sys.exit(main())
