"""`python -m pricewise`: the same as the `pricewise` command."""

from pricewise.cli import main

raise SystemExit(main())
