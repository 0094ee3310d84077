"""The command-line interface (the only part of deepzip that prints or exits)."""
