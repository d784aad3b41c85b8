"""What every script's command line shares: a help formatter that shows each flag's default.

argparse's ArgumentDefaultsHelpFormatter appends "(default: None)" where a flag has no fixed default; that says
nothing. Here such a flag's help says its default in words, "(default: ...)", and nothing is appended to it.
"""
import argparse


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every flag's default in its help: appended by argparse, or, where it is None, said in the help itself."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or "(default:" in text:
            return text
        return super()._get_help_string(action)
