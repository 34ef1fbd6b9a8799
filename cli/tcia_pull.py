"""The ``tcia pull`` command: download new series of a TCIA collection and land complete cases."""

from __future__ import annotations

import argparse
from pathlib import Path



def run(args: argparse.Namespace) -> int:
    from datetime import date

    from rich.console import Console
    from rich.progress import Progress

    from radiomics_core.tcia.client import DEFAULT_BASE_URL, RetryPolicy, TciaClient, TciaError
    from radiomics_core.tcia.pull import PullConfig, pull

    cohort = Path(args.cohort)
    config = PullConfig(args.collection, cohort, Path(args.landing or cohort / "tcia-landing"),
                        Path(args.segmentations or cohort / "segmentations"),
                        date.fromisoformat(args.since) if args.since else None)
    client = TciaClient(base_url=args.base_url or DEFAULT_BASE_URL, retry=RetryPolicy(attempts=args.retries))
    console = Console()
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task("series", total=None)
        try:
            outcomes = pull(client, config, on_listed=lambda n: progress.update(bar, total=n),
                            on_series=lambda _: progress.advance(bar))
        except TciaError as error:
            console.print(f"[red]{error}[/red]")
            return 1
    for outcome in outcomes:
        print(outcome.line())
    if not outcomes:
        print(f"no series in {args.collection}" + (f" changed since {args.since}" if args.since else ""))
    return 1 if any(o.status == "failed" for o in outcomes) else 0
