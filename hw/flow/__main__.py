import sys

from hw.flow.flow import main

sys.exit(main())
