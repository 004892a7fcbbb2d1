"""Keeps the median of several loadgen runs of one scenario as the scenario's result.

    python3 bench/median.py OUT_PREFIX RUN_PREFIX...

Each RUN_PREFIX has .json, .md and (for scenarios with deliveries) .png files written by
loadgen. The run whose Switchboard figure is the median becomes OUT_PREFIX.*, and its summary
gains a table of every run, so the spread is on record next to the figure.
"""

import json
import shutil
import sys
from pathlib import Path

# What each scenario is judged by, from Switchboard's result.
FIGURES = {
    "latency": ("delivery p99 ms", lambda r: r["delivery"]["p99_ms"]),
    "throughput": ("highest sustained msg/s", lambda r: r["extra"]["highest_sustained_rate"]),
    "idle": ("RSS per socket B", lambda r: r["server"]["rss_per_socket_bytes"]),
    "catchup": ("reconnect and catch-up s", lambda r: r["extra"]["reconnect_and_catch_up_s"]),
}


def switchboard(report):
    return next(r for r in report["results"] if r["target"] == "switchboard")


def main(out, runs):
    reports = [(run, json.loads(Path(run + ".json").read_text())) for run in runs]
    scenario = reports[0][1]["scenario"]
    label, figure = FIGURES[scenario]
    ranked = sorted(reports, key=lambda pair: figure(switchboard(pair[1])))
    median_run, _ = ranked[len(ranked) // 2]
    for suffix in (".json", ".md", ".png"):
        source = Path(median_run + suffix)
        if source.exists():
            shutil.copyfile(source, out + suffix)
    lines = [
        "",
        f"### All {len(reports)} runs (this summary is the median one, by {label})",
        "",
        f"| run | {label} | lost | errors |",
        "|---|---|---|---|",
    ]
    for n, (run, report) in enumerate(reports, start=1):
        result = switchboard(report)
        lost = result["lost"] + result["lost_echo"]
        errors = sum(result["errors"].values())
        mark = " (kept)" if run == median_run else ""
        lines.append(f"| {n}{mark} | {figure(result):g} | {lost} | {errors} |")
    with open(out + ".md", "a") as summary:
        summary.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
