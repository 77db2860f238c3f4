"""``--tiny``: the size at which the tests run every benchmark script (``tests/test_benchmarks.py``).

Not a benchmark: the argument handling the scripts share (they import it from their own folder).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any


def parse_args_tiny(
    ap: argparse.ArgumentParser, argv: Sequence[str] | None, tiny: dict[str, Any], what: str
) -> argparse.Namespace:
    """Add ``--tiny`` to ``ap`` (which has ``--out``, default None) and parse ``argv``.

    Under ``--tiny`` the defaults become ``tiny`` (flags given explicitly still win) and ``--out``
    is required, so a check never writes into ``benchmarks/results/``.
    """
    ap.add_argument("--tiny", action="store_true", help=f"a check that it runs: {what} (needs --out)")
    args = ap.parse_args(argv)
    if args.tiny:
        if args.out is None:
            ap.error("--tiny needs --out (a scratch folder)")
        ap.set_defaults(**tiny)
        args = ap.parse_args(argv)
    return args
