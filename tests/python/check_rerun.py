"""Reads a dreamrig .rrd file with the rerun-sdk of the same version and prints, as JSON, the
application id, the timelines, and per entity the number of rows and whether it is static.

Usage: python check_rerun.py FILE.rrd
"""
import json
import sys

import rerun as rr
from rerun.experimental import RrdReader


def main(path):
    reader = RrdReader(path)
    recordings = reader.recordings()
    out = {"sdk_version": rr.__version__, "recordings": len(recordings), "entities": {}, "timelines": set(), "components": {}}
    for chunk in reader.stream():
        entity = chunk.entity_path
        entry = out["entities"].setdefault(entity, {"rows": 0, "static_rows": 0})
        if chunk.is_static:
            entry["static_rows"] += chunk.num_rows
        else:
            entry["rows"] += chunk.num_rows
        out["timelines"].update(chunk.timeline_names)
        batch = chunk.to_record_batch()
        names = out["components"].setdefault(entity, set())
        names.update(f.name for f in batch.schema if ":" in f.name)
    out["timelines"] = sorted(out["timelines"])
    out["components"] = {k: sorted(v) for k, v in out["components"].items()}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
