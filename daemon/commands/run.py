"""Placeholder until this subcommand lands (being built now)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    del parser, name


def run(args: argparse.Namespace) -> int:
    del args
    raise NotImplementedError
