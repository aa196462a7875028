import sys

from poetry_lab.cli import main

sys.exit(main())
