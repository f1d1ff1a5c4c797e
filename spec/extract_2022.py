#!/usr/bin/env python3
"""Extracts the request contracts (parameters, request bodies) of a few operations from the 2022
vendor spec `customerio-api/customer_io_api.yaml` into `customer_io_api.2022-ops.json`, with every
`$ref` resolved, for the simulator's request validator (which reads JSON at run time, not YAML).

Only operations that neither `customerio-api/journeys-app.2026-excerpt.json` nor
`journeys-app.2026-ops.json` (the 2026 contracts) carry are extracted.

Usage (from the repository root): python3 spec/extract_2022.py
"""

import json
import os
import sys

import yaml  # PyYAML

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "customerio-api", "customer_io_api.yaml")
TARGET = os.path.join(HERE, "customer_io_api.2022-ops.json")

# The operations served by the simulator that the 2026 files lack.
OPERATIONS = ["getCampaigns"]

# Keys kept in parameter and schema objects (descriptions and examples are left out).
DROP = {"description", "example", "examples"}


def resolve(spec, node, depth=0):
    if depth > 32:
        raise SystemExit("$ref nesting deeper than 32")
    if isinstance(node, dict):
        if "$ref" in node:
            target = spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return resolve(spec, target, depth + 1)
        return {k: resolve(spec, v, depth) for k, v in node.items() if k not in DROP}
    if isinstance(node, list):
        return [resolve(spec, v, depth) for v in node]
    return node


def main():
    with open(SOURCE, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    paths = {}
    for path, item in spec["paths"].items():
        shared = item.get("parameters", [])
        for method, op in item.items():
            if not isinstance(op, dict) or op.get("operationId") not in OPERATIONS:
                continue
            out = {
                "operationId": op["operationId"],
                "parameters": resolve(spec, shared + op.get("parameters", [])),
            }
            if "requestBody" in op:
                out["requestBody"] = resolve(spec, op["requestBody"])
            paths.setdefault(path, {})[method] = out
    found = sorted(o["operationId"] for item in paths.values() for o in item.values())
    if found != sorted(OPERATIONS):
        sys.exit(f"found {found}, expected {sorted(OPERATIONS)}")
    doc = {
        "x-source": {
            "what": "Request contracts extracted by spec/extract_2022.py from the 2022 vendor spec; "
            "do not edit by hand, run the script.",
            "repository": "simplyrootd/customer-io-dart",
            "path": "gen/customer_io_api.yaml (copied as spec/customerio-api/customer_io_api.yaml)",
            "commit": "c452df1ff25d1b8e4e858f9c20519812d3647f61",
        },
        "paths": paths,
    }
    with open(TARGET, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
