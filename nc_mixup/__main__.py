import sys

from nc_mixup.cli import main

sys.exit(main())
