"""abm-qualify: open account-based qualification."""

__version__ = "0.1.0"
