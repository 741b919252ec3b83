"""Run every benchmark (`benchmarks/bench_*.py`), each in its own process, one after another.

Each benchmark prints its own side-by-side ratios (bench_train.py includes the end-to-end
`nc-mixup train` row against PyTorch's step); results worth keeping are recorded by hand in
benchmarks/RESULTS.md together with the machine they ran on and its load average, printed here.
`python benchmarks/run_all.py NAME` runs only the benchmarks whose file name contains NAME.
"""

from __future__ import annotations

import os
import pathlib
import platform
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    benches = sorted(HERE.glob("bench_*.py"))
    if argv:
        benches = [b for b in benches if any(a in b.name for a in argv)]
    print(
        f"machine: {platform.node()} {platform.machine()} python {platform.python_version()}, "
        f"{os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    failed = []
    for bench in benches:
        print(f"\n=== {bench.name}", flush=True)
        if subprocess.call([sys.executable, str(bench)]) != 0:
            failed.append(bench.name)
        print(f"(load average after {bench.name}: {os.getloadavg()[0]:.1f})", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
