import sys

from hw.plan.cli import main

sys.exit(main())
