"""python -m kindkube setup|up|down|status (more verbs are added as the modules come)."""
from __future__ import annotations

import sys

from . import dockerd


def main(argv: list[str]) -> int:
    verb = argv[0] if argv else "status"
    if verb == "setup":
        dockerd.setup()
    elif verb == "up":
        print(dockerd.up())
    elif verb == "down":
        dockerd.down()
    elif verb == "status":
        print(dockerd.status())
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
