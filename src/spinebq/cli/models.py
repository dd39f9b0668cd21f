"""``spinebq models``: the registry of published models and cutoffs, as a table or as JSON."""
from __future__ import annotations

import argparse

NAME = "models"
HELP = "list the published models and cutoffs spinebq assesses against (paper, predictor, cutoff, AUC); research use only"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list of the model entries instead of a table")
    parser.add_argument("--key", help="show one model or screening threshold set in full (all fields, as JSON)")


def run(args: argparse.Namespace) -> int:
    import json

    from spinebq.errors import SpinebqError
    from spinebq.constants import RESEARCH_NOTICE
    from spinebq.risk.registry import get_entry, load_models, models_table

    if args.key:
        try:
            print(json.dumps(get_entry(args.key), indent=2))
        except KeyError as exc:
            raise SpinebqError(str(exc.args[0])) from None
        return 0
    if args.json:
        print(json.dumps(load_models(), indent=2))
        return 0
    print(models_table())
    print(RESEARCH_NOTICE)
    return 0
