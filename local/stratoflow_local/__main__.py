"""Entry point: `python -m stratoflow_local serve | invoke | tokens`."""

import sys

from stratoflow_local.cli import main

sys.exit(main())
