"""The `hadas` command."""
