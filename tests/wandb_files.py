"""Reading what W&B wrote in offline mode: the run files (.wandb) of the offline run folders under $WANDB_DIR/wandb."""

import json
import struct
import time


def wandb_records(path):
    """The records of a W&B run file (.wandb): 32 KiB blocks of chunks, each with a 7-byte header (CRC, length,
    type: 1 whole, 2 first, 3 middle, 4 last), after a 7-byte file header; each record a protobuf Record."""
    from wandb.proto import wandb_internal_pb2

    data, pos, chunks = path.read_bytes(), 7, []
    assert data.startswith(b":W&B"), data[:7]
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if pos + 7 + length > len(data):
            return  # being written
        chunks.append(data[pos + 7 : pos + 7 + length])
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(chunks))
            chunks = []
            yield record


def wandb_runs(workdir, count):
    """What each of the ``count`` offline run folders holds, oldest first, once each has its exit record (W&B's
    service process writes the file a moment after finish() returns)."""
    for _ in range(100):
        runs = [read_wandb_run(folder) for folder in sorted((workdir / "wb/wandb").glob("offline-run-*"))]
        if len(runs) == count and all(run["exit"] is not None for run in runs):
            break
        time.sleep(0.1)
    return runs


def read_wandb_run(folder):
    run = {"id": None, "project": None, "config": {}, "history": [], "summary": {}, "exit": None}
    for record in wandb_records(next(folder.glob("run-*.wandb"))):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run["id"], run["project"] = record.run.run_id, record.run.project
        elif kind == "config":
            run["config"].update({c.key: json.loads(c.value_json) for c in record.config.update})
        elif kind == "history":
            items = record.history.item
            run["history"].append({"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in items})
        elif kind == "summary":
            run["summary"].update({i.key: json.loads(i.value_json) for i in record.summary.update if i.key})
        elif kind == "exit":
            run["exit"] = record.exit.exit_code
    return run
