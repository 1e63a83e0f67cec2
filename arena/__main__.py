"""`python -m arena COMMAND`.

Each command lives in its own module exposing `add_arguments(parser)` and
`main_from_args(args) -> int`; adding a command is one line in `COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    # name: (module, help)
    "serve": ("arena.cli_serve", "run the server"),
    "bot": ("arena.bot", "play battles against a server"),
    "devnet": ("arena.chain.devnet", "run a local Solana network (LiteSVM) for the solana ledger"),
    "bsvnet": ("arena.chain.bsvnet", "run a SIMULATED BSV network (ARC + WhatsOnChain API) for the bsv ledger"),
    "migrate": ("arena.cli_migrate", "apply the store's schema migrations"),
    "replay": ("arena.cli_replay", "rebuild state from a store's journal; print the hash per snapshot"),
    "keys": ("arena.cli_keys", "API keys for agents and operators: create, list, revoke"),
    "reconcile": ("arena.cli_reconcile", "list escrow and settlements a world's ledger records cannot account for"),
    "simulate": ("arena.sim.cli", "run seeded worlds of the whole server with injected faults and invariants"),
    "bench": ("arena.benchkit.cli", "load-test a server over real sockets (duel, battles, idle)"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="arena", description="Arena authoritative game server")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {}
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a command this build does not have yet
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
        modules[name] = module
    args = parser.parse_args(argv)
    return modules[args.command].main_from_args(args) or 0


if __name__ == "__main__":
    sys.exit(main())
