"""``python -m durable``: the same as the ``durable`` command."""

from durable.cli import main

raise SystemExit(main())
