"""`python -m crawler`: the command line."""

from crawler.cli import main

raise SystemExit(main())
