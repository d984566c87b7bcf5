"""``python -m api.cli ...`` runs ``vecq ...``."""

import sys

from api.cli import main

sys.exit(main())
