"""``python -m mlendpoints_dev.nodeagent CONFIG.json``: run the node agent (see agent.py)."""

import sys

from mlendpoints_dev.nodeagent.agent import main

if __name__ == "__main__":
    main(sys.argv[1])
