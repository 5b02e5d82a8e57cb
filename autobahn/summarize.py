#!/usr/bin/env python3
"""Summarises wstest fuzzingclient reports (index.json files).

Prints a table of results per section, every case that did not pass, and ends with the line
`N passed, N failed, N skipped`. Exit status 1 if anything failed.

A case passes when both `behavior` and `behaviorClose` are OK, NON-STRICT or INFORMATIONAL.
UNIMPLEMENTED counts as skipped only for sections 12 and 13 (compression not offered).
"""
import json
import sys
from collections import defaultdict

PASS = {"OK", "NON-STRICT", "INFORMATIONAL"}


def case_key(case_id):
    return tuple(int(part) for part in case_id.split("."))


def main(paths):
    passed = failed = skipped = 0
    per_section = defaultdict(lambda: [0, 0, 0])
    failures = []
    for path in paths:
        with open(path) as f:
            report = json.load(f)
        mode = path.split("report-")[-1].split("/")[0] if "report-" in path else path
        for agent, cases in report.items():
            for case_id in sorted(cases, key=case_key):
                result = cases[case_id]
                behavior, close = result["behavior"], result["behaviorClose"]
                section = case_id.split(".")[0]
                if behavior == "UNIMPLEMENTED" and section in ("12", "13"):
                    skipped += 1
                    per_section[section][2] += 1
                elif behavior in PASS and close in PASS:
                    passed += 1
                    per_section[section][0] += 1
                else:
                    failed += 1
                    per_section[section][1] += 1
                    failures.append((mode, agent, case_id, behavior, close, result.get("remoteCloseCode")))
    print("section  passed  failed  skipped")
    for section in sorted(per_section, key=int):
        p, f, s = per_section[section]
        print(f"{section:>7}  {p:>6}  {f:>6}  {s:>7}")
    for mode, agent, case_id, behavior, close, code in failures:
        print(f"FAILED {mode} {agent} case {case_id}: behavior={behavior} behaviorClose={close} remoteCloseCode={code}")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: summarize.py REPORT/index.json...")
    sys.exit(main(sys.argv[1:]))
