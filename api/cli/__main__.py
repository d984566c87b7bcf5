"""``python -m vecq.api.cli ...`` runs ``vecq ...``."""

import sys

from vecq.api.cli import main

sys.exit(main())
