"""`python -m tests.stack ...`, called by scripts/stack."""

import sys

from tests.stack.stack import main

sys.exit(main(sys.argv[1:]))
