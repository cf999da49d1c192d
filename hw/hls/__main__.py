import sys

from hw.hls.convert import main

sys.exit(main())
