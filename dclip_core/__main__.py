from __future__ import annotations

import sys

from dclip_core.cli import main

sys.exit(main())
