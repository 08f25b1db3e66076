"""`python -m evlm_server ...` is `evlm-server ...`."""

import sys

from evlm_server.cli import server_main

sys.exit(server_main())
