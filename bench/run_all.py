"""Runs every benchmark in bench/ one after another (`make bench`); each prints its own ratios."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHES = ("preprocess.py", "train_input.py", "remove_background.py", "scale_plan.py")

if __name__ == "__main__":
    failed = []
    for name in BENCHES:
        print(f"== bench/{name}", flush=True)
        if subprocess.run([sys.executable, os.path.join(HERE, name)]).returncode != 0:
            failed.append(name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")
