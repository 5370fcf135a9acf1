"""Runs Otter-Grader's autograding process through grader.interfaces.otter_gradescope (see there).

The grader shipped in files/activation-grader comes first on sys.path, so the checks that grade
are the ones this zip was built with, whatever version the image has installed.
"""
import time

START = time.perf_counter()  # noqa: E402  (the timings printed at the end start here)
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

AUTOGRADER = "/autograder"
sys.path.insert(0, os.path.join(AUTOGRADER, "source", "files", "activation-grader"))

try:
    from grader.interfaces.otter_gradescope import main
except Exception as exc:  # the environment is broken: say so instead of "autograder failed"
    message = (f"The autograder could not start ({type(exc).__name__}: {exc}); this is not a problem "
               "with your submission: tell your instructor.")
    os.makedirs(os.path.join(AUTOGRADER, "results"), exist_ok=True)
    with open(os.path.join(AUTOGRADER, "results", "results.json"), "w", encoding="utf-8") as f:
        json.dump({"score": 0, "output": message, "output_format": "text",
                   "tests": [{"name": "Autograder", "score": 0, "max_score": 100, "status": "failed",
                              "output": message, "output_format": "text"}]}, f, indent=4)
    raise

if __name__ == "__main__":
    sys.exit(main(AUTOGRADER, started=START))
