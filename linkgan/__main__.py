"""`python -m linkgan ...`: see linkgan/cli.py."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m linkgan"))
