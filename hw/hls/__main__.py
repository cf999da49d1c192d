import sys

from hw.hls.cli import main

sys.exit(main())
