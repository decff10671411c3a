"""Where the project's data contracts, templates and default config live on disk."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
REPORTS_DIR = PROJECT_ROOT / "reports"
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "default.yaml"
