"""Every benchmark, one after another, and one row of figures appended to bench/results.md.

    .venv/bin/python -m bench.all              # small scale, a few minutes (`make bench`)
    SCALE=full .venv/bin/python -m bench.all   # the scale of issue 12 (much longer)

Each benchmark prints its own figures and its ratio to its floor; this runner echoes them and
keeps the summary lines of each in the row: date, machine, commit, figures.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("results.md")
HEADER = "| date (UTC) | machine | commit | scale | figures |\n|---|---|---|---|---|\n"

# (module, the small scale's runs, the full scale's runs, how many trailing lines summarise a run).
# The full scale is issue 12's table: the HTTP calls into one buy, the change and the placement
# into 20, the group buy read at 10,000 orders, the close and settlement of 10,000 orders x 50
# products, the year end at 10k, 100k and 1M members (to show how its cost grows), the FIFO
# redemption at 100k members x 15 years.
BENCHMARKS: list[tuple[str, list[list[str]], list[list[str]], int]] = [
    (
        "bench.http",
        [["--members", "200", "--seconds", "6"]],
        [
            ["--members", "300", "--seconds", "15"],
            ["--members", "300", "--seconds", "15", "--group-buys", "20", "--calls", "change", "place"],
            ["--members", "300", "--seconds", "15", "--calls", "group_buy", "--orders", "10000"],
        ],
        9,
    ),
    ("bench.ledger_posting", [["--entries", "500"]], [[]], 1),
    (
        "bench.group_buy_close",
        [["--members", "500"]],
        [["--members", "10000", "--products", "50", "--seed-sql"]],
        4,
    ),
    ("bench.member_import", [["--rows", "2000"]], [[]], 1),
    (
        "bench.allocation_run",
        [["--members", "2000", "--records", "50000"]],
        [
            ["--members", "10000", "--records", "1000000"],
            ["--members", "100000", "--records", "10000000"],
            ["--members", "1000000", "--records", "100000000"],
        ],
        3,
    ),
    ("bench.redemption_run", [["--members", "2000", "--years", "15"]], [["--members", "100000", "--years", "15"]], 1),
]


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}, {os.cpu_count()} CPUs {model}".strip()


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)  # noqa: S607
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=False)  # noqa: S607
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def run(module: str, args: list[str], keep: int) -> list[str]:
    print(f"== {module} {' '.join(args)}", flush=True)
    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, check=False)  # noqa: S603
    print(done.stdout, end="", flush=True)
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        return [f"{module} failed (code {done.returncode})"]
    lines = [" ".join(line.split()) for line in done.stdout.splitlines() if line.strip()]
    return lines[-keep:]


def main() -> None:
    full = os.environ.get("SCALE", "small") == "full"
    figures = [
        f"**{' '.join([module, *args])}**: " + "; ".join(run(module, args, keep))
        for module, small, large, keep in BENCHMARKS
        for args in (large if full else small)
    ]
    row = " <br> ".join(f.replace("|", "/") for f in figures)
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmark results\n\nOne row per `make bench` run; newest last. HTTP figures per call: requests/s,"
            " p50 ms, p99 ms, failed, throughput as a ratio of the raw-asyncpg floor's.\n\n" + HEADER
        )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    with RESULTS.open("a") as out:
        out.write(f"| {stamp} | {machine()} | {commit()} | {'full' if full else 'small'} | {row} |\n")
    print(f"appended a row to {RESULTS}")


if __name__ == "__main__":
    main()
