import sys

from rebac.cli.main import main

sys.exit(main())
