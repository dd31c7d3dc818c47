"""``python -m optlib.experiments CHAPTER...``: dry-run each chapter's full parameters (no training)."""
import sys
from pathlib import Path

import yaml

from . import dry_run_chapter

root = Path.cwd()
ok = True
for chapter in sys.argv[1:] or ["foundations"]:
    p = yaml.safe_load((root / "params" / chapter / "full.yaml").read_text())
    report, valid = dry_run_chapter(chapter, p)
    print(f"== {chapter} (full)\n{report}\n")
    ok &= valid
sys.exit(0 if ok else 1)
