#!/usr/bin/env python3
"""Benchmark of a production push: throughput, memory, requests, checkpoint
cost, a baseline of the unavoidable work, and resume time.

For each document count N it seeds an emulator with N generated documents,
with tiny TIFF pages so that the disk suffices. It serves the emulator in
its own process and pushes the production with the engine in another, so
that the engine's peak resident memory is its own. In the same run it measures the
baseline: copying the same image bytes plus the emulator importing the same
pages from Opticon files prepared in advance, with no engine in between.

Usage:
  python3 bench/bench.py --sizes 10000 100000 1000000 --out bench/results.json
  python3 bench/bench.py --sizes 1000 --quick        # a smoke run

It builds the release binary first (cargo build --release) unless --binary
is given. Only the Python standard library is used.
"""

import argparse
import base64
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

SOURCE_WS = 1017266
DEST_WS = 1017267
PRODUCTION = 1040001
PUSH_SET = 1040101
BASELINE_SET = 1040111
RESUME_SET = 1040121
USER = "bench"
PASSWORD = "bench-password"
UNC_ROOT = "\\\\emulator\\fileshare"


def run(command, **kwargs):
    """Runs a command, failing loudly with its output."""
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        sys.exit(f"command failed ({result.returncode}): {' '.join(command)}\n{result.stdout}\n{result.stderr}")
    return result.stdout


class Emulator:
    """One emulator data folder, seeded, served in a child process."""

    def __init__(self, binary, folder):
        self.binary = binary
        self.folder = folder
        self.process = None
        self.base_url = None

    def cli(self, *args):
        return run([self.binary, "emulator", *args, "--data", self.folder],
                   env={**os.environ, "BENCH_PASSWORD": PASSWORD})

    def seed(self, documents, max_pages):
        self.cli("add-workspace", "--workspace", str(SOURCE_WS), "--name", "source")
        self.cli("add-workspace", "--workspace", str(DEST_WS), "--name", "destination")
        started = time.monotonic()
        self.cli("seed-demo", "--workspace", str(SOURCE_WS), "--production", str(PRODUCTION),
                 "--documents", str(documents), "--max-pages", str(max_pages), "--seed", "1",
                 "--prefix", "BENCH", "--page-width", "64", "--page-height", "64")
        seeded = time.monotonic() - started
        for production in (PUSH_SET, PUSH_SET + 1, BASELINE_SET, BASELINE_SET + 1, RESUME_SET):
            self.cli("create-production-set", "--workspace", str(DEST_WS),
                     "--production", str(production), "--name", f"set {production}")
        self.cli("add-user", "--name", USER, "--password-env", "BENCH_PASSWORD", "--admin")
        return seeded

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "emulator", "serve", "--data", self.folder, "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        if "http://" not in line:
            sys.exit(f"emulator did not start: {line!r}")
        self.base_url = line.split()[-1]

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait()
            self.process = None

    def call(self, method, path, body=None):
        """Sends one REST call, as the client does, and returns the JSON."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + "/Relativity.REST/api" + path,
                                         data=data, method=method)
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        request.add_header("X-CSRF-Header", "-")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.loads(response.read() or b"null")


def production_pages(folder):
    """Lists (document, Bates, path relative to the file share) of the pages
    from the emulator's database, in document and page order."""
    connection = sqlite3.connect(os.path.join(folder, "emulator.db"))
    rows = connection.execute(
        "SELECT document, bates, location FROM pages WHERE workspace = ? AND production = ? "
        "ORDER BY document, page_number", (SOURCE_WS, PRODUCTION)).fetchall()
    connection.close()
    return rows


def write_workflow(folder, base_url, batch_size, production_set):
    workflow = {
        "name": "bench",
        "relativity": {"url": base_url,
                       "auth": {"kind": "basic", "username": USER, "password_env": "BENCH_PASSWORD"},
                       "timeout_seconds": 600},
        "source": {"workspace": SOURCE_WS, "production": PRODUCTION},
        "destination": {"workspace": DEST_WS, "production_set": production_set},
        "import": {"batch_size": batch_size, "bates_field": "Bates Number",
                   "file_share": {"server_root": UNC_ROOT,
                                  "local_root": os.path.join(folder, "fileshare")},
                   "wait_seconds": 86400},
    }
    path = os.path.join(folder, "workflow.json")
    with open(path, "w") as file:
        json.dump(workflow, file)
    return path


def push(binary, folder, workflow, crash_at=None):
    """Runs the engine; returns (exit code, wall s, stats, output). Engine
    memory comes from the engine's own VmHWM in its stats: the RSS figure of
    wait4 would include what the forked Python process had before exec."""
    stats_path = os.path.join(folder, "stats.json")
    env = {**os.environ, "BENCH_PASSWORD": PASSWORD}
    if crash_at:
        env["PRODSYNC_CRASH_AT"] = crash_at
    started = time.monotonic()
    process = subprocess.Popen(
        [binary, "--db", os.path.join(folder, "prodsync.db"), "run", workflow,
         "--stats-json", stats_path],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    output = process.stdout.read()
    code = process.wait()
    wall = time.monotonic() - started
    stats = json.load(open(stats_path)) if os.path.exists(stats_path) else None
    return code, wall, stats, output


def flush():
    """Writes every dirty page of the machine to disk; returns the seconds
    it took. Called untimed before each measured phase, so that no phase
    pays for the writes of the one before, and timed after it, so that each
    phase counts the disk writes of its own work."""
    started = time.monotonic()
    os.sync()
    return time.monotonic() - started


def batch_totals(folder):
    connection = sqlite3.connect(os.path.join(folder, "prodsync.db"))
    row = connection.execute("SELECT COUNT(*), SUM(documents), SUM(pages), SUM(bytes) FROM batches").fetchone()
    connection.close()
    return row


def baseline(emulator, folder, pages, batch_size, production_set, round_index):
    """Times the unavoidable work: copy the production's image bytes with
    `cp -r`, then import them from Opticon files prepared in advance.
    Returns (copy s, import s)."""
    share = os.path.join(folder, "fileshare")
    production_dir = f"EDDS{SOURCE_WS}\\Productions\\{PRODUCTION}\\"
    target = os.path.join(share, f"baseline{round_index}")
    os.makedirs(target, exist_ok=True)

    # Prepared in advance, untimed: one Opticon file per batch of documents,
    # naming the images where the copy below puts them.
    documents = []
    for document, bates, location in pages:
        if not documents or documents[-1][0] != document:
            documents.append((document, []))
        documents[-1][1].append((bates, location))
    sources = []
    page_count = 0
    for start in range(0, len(documents), batch_size):
        lines = []
        for document, document_pages in documents[start:start + batch_size]:
            for index, (bates, location) in enumerate(document_pages):
                if not location.startswith(production_dir):
                    sys.exit(f"page {bates} lies outside {production_dir}: {location}")
                image = "images\\" + location[len(production_dir):]
                first = "Y" if index == 0 else ""
                count = str(len(document_pages)) if index == 0 else ""
                lines.append(f"{bates},BASE,{image},{first},,,{count}\r\n")
                page_count += 1
        path = os.path.join(target, f"batch-{start // batch_size:06}.opt")
        with open(path, "w", newline="") as file:
            file.writelines(lines)
        sources.append(UNC_ROOT + f"\\baseline{round_index}\\" + os.path.basename(path))

    source_dir = os.path.join(share, f"EDDS{SOURCE_WS}", "Productions", str(PRODUCTION))
    flush()
    started = time.monotonic()
    run(["cp", "-r", source_dir, os.path.join(target, "images")])
    copy_seconds = time.monotonic() - started

    job = str(uuid.uuid4())
    base = f"/import-service/v1/workspaces/{DEST_WS}/import-jobs/{job}"
    started = time.monotonic()
    emulator.call("POST", base, {"applicationName": "baseline", "correlationID": job})
    emulator.call("POST", base + "/documents-configurations", {"importSettings": {
        "Overlay": None, "Image": {"PageNumbering": 1, "ProductionID": production_set,
                                   "LoadExtractedText": False, "FileType": 0},
        "Fields": None, "Folder": None}})
    emulator.call("POST", base + "/begin")
    for path in sources:
        emulator.call("POST", base + f"/sources/{uuid.uuid4()}", {"dataSourceSettings": {
            "Path": path, "Type": 1, "EndOfLine": 0, "StartLine": 0}})
    emulator.call("POST", base + "/end")
    while not emulator.call("GET", base + "/details")["Value"]["IsFinished"]:
        time.sleep(0.05)
    import_seconds = time.monotonic() - started
    flush_seconds = flush()
    progress = emulator.call("GET", base + "/progress")["Value"]
    if progress["ImportedRecords"] != page_count:
        sys.exit(f"baseline imported {progress['ImportedRecords']} of {page_count} pages")
    return copy_seconds, import_seconds, flush_seconds


def resume_probe(binary, folder, batch_size, documents):
    """Stops a push half way with SIGKILL, resumes it, and returns the
    seconds from starting `resume` to its first new batch recorded."""
    batches = -(-documents // batch_size)
    half = (batches - 1) // 2  # so that batch half + 1 exists
    workflow = os.path.join(folder, "workflow.json")
    code, _, _, output = push(binary, folder, workflow, crash_at=f"after_data_source:{half}")
    if code != -9:
        sys.exit(f"the push to stop half way ended with {code}: {output}")
    run_id = output.split()[1]
    flush()

    env = {**os.environ, "BENCH_PASSWORD": PASSWORD}
    started_wall = time.time()
    stats_path = os.path.join(folder, "resume-stats.json")
    process = subprocess.Popen(
        [binary, "--db", os.path.join(folder, "prodsync.db"), "resume", run_id,
         "--stats-json", stats_path],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    first_new = wait_for_batch(folder, run_id, half + 1, process)
    # The rest of the run is not measured: stop it at its next safe point.
    process.terminate()
    code = process.wait()
    peak_mb = json.load(open(stats_path))["peak_rss_mb"]
    recorded = time.mktime(time.strptime(first_new[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    recorded += float("0." + first_new[20:23])
    return {"exit": code, "to_first_new_batch_s": recorded - started_wall,
            "resume_peak_rss_mb": peak_mb, "stopped_after_batch": half}


def wait_for_batch(folder, run_id, index, process):
    """Polls the checkpoint database until batch `index` is recorded;
    returns its completion time."""
    while True:
        connection = sqlite3.connect(os.path.join(folder, "prodsync.db"), timeout=30)
        row = connection.execute(
            "SELECT completed_at FROM batches WHERE run_id = ? AND batch_index = ?",
            (run_id, index)).fetchone()
        connection.close()
        if row:
            return row[0]
        if process.poll() is not None:
            sys.exit(f"resume ended ({process.returncode}) before batch {index} was recorded")
        time.sleep(0.02)


def push_once(binary, folder, base_url, batch_size, production_set, size):
    """Pushes the production into `production_set`; returns the stats."""
    workflow = write_workflow(folder, base_url, batch_size, production_set)
    flush()
    code, wall, stats, output = push(binary, folder, workflow)
    stats["flush_s"] = flush()
    if code != 0:
        sys.exit(f"push of {size} documents ended with {code}: {output}")
    stats["wall_s"] = wall
    stats["push_s"] = stats["wall_seconds"] + stats["flush_s"]
    return stats


def remove_database(folder):
    """Deletes the checkpoint database, so that the next push starts anew."""
    database = os.path.join(folder, "prodsync.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(database + suffix):
            os.remove(database + suffix)


def summarise(pushes, folder, size):
    """Turns the push statistics into the reported figures; the fastest
    push counts, and memory is the highest of all pushes. Push time is the
    engine's wall time plus the flush of what it wrote."""
    stats = min(pushes, key=lambda entry: entry["push_s"])
    batches, documents, pages_pushed, size_bytes = batch_totals(folder)
    seconds = stats["push_s"]
    result = {
        "wall_s": stats["wall_s"], "push_s": seconds,
        "engine_s": stats["wall_seconds"], "flush_s": stats["flush_s"],
        "push_runs_s": [entry["push_s"] for entry in pushes],
        "peak_rss_mb": max(entry["peak_rss_mb"] for entry in pushes),
        "pages": pages_pushed, "bytes": size_bytes, "batches": batches,
        "documents_per_s": documents / seconds,
        "pages_per_s": pages_pushed / seconds,
        "mb_per_s": size_bytes / 1e6 / seconds,
        "s_per_100k_documents": seconds / size * 100_000,
        "http_requests": stats["http_requests"],
        "checkpoint_writes": stats["checkpoint_writes"],
        "checkpoint_s": stats["checkpoint_seconds"],
        "batch_checkpoint_s": stats["batch_checkpoint_seconds"],
        "batch_checkpoint_s_per_batch": stats["batch_checkpoint_seconds"]
        / max(stats["batch_checkpoint_writes"], 1),
        "batch_checkpoint_max_s": stats["batch_checkpoint_max_seconds"],
        "wal_checkpoints": stats["wal_checkpoints"],
        "wal_checkpoint_s": stats["wal_checkpoint_seconds"],
        "bare_commit_idle_s": stats["bare_commit_seconds"],
        "bare_commit_under_load_s": stats["probe_commit_seconds"] / max(stats["probe_commits"], 1),
    }
    result["checkpoint_ratio"] = result["batch_checkpoint_s_per_batch"] / result["bare_commit_under_load_s"]
    result["checkpoint_ratio_to_idle"] = result["batch_checkpoint_s_per_batch"] / result["bare_commit_idle_s"]
    return result


def summarise_baseline(baselines, push_seconds):
    """Reports the fastest baseline (copy, import and the flush of both)
    and the push's ratio to it."""
    copy, load, flushed = min(baselines, key=sum)
    total = copy + load + flushed
    return {"baseline_runs_s": [sum(entry) for entry in baselines],
            "baseline_copy_s": copy, "baseline_import_s": load, "baseline_flush_s": flushed,
            "baseline_s": total, "push_to_baseline": push_seconds / total}


def measure(binary, size, batch_size, max_pages, work, with_baseline, with_resume):
    """Seeds and serves an emulator of `size` documents and measures the
    push. With a baseline, push and baseline run alternately twice (B, P,
    B, P) and the faster of each pair counts, so that a slow spell of the
    machine's disk does not favour either side."""
    folder = os.path.join(work, f"n{size}")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    emulator = Emulator(binary, folder)
    result = {"documents": size, "batch_size": batch_size}
    result["seed_s"] = emulator.seed(size, max_pages)
    emulator.start()

    try:
        rounds = 2 if with_baseline else 1
        pushes, baselines = [], []
        pages = production_pages(folder) if with_baseline else None
        for round_index in range(rounds):
            if with_baseline:
                baselines.append(baseline(emulator, folder, pages, batch_size,
                                          BASELINE_SET + round_index, round_index))
            remove_database(folder)
            pushes.append(push_once(binary, folder, emulator.base_url, batch_size,
                                    PUSH_SET + round_index, size))

        result.update(summarise(pushes, folder, size))
        if with_baseline:
            result.update(summarise_baseline(baselines, result["push_s"]))

        if with_resume:
            remove_database(folder)
            write_workflow(folder, emulator.base_url, batch_size, RESUME_SET)
            result["resume"] = resume_probe(binary, folder, batch_size, size)
    finally:
        emulator.stop()
    print(json.dumps(result), flush=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--max-pages", type=int, default=2)
    parser.add_argument("--baseline-up-to", type=int, default=100_000,
                        help="measure the baseline for sizes up to this many documents")
    parser.add_argument("--resume-at", type=int, nargs="*", default=[],
                        help="sizes at which to measure resume time")
    parser.add_argument("--work", default=None, help="scratch folder (default: a temp folder)")
    parser.add_argument("--binary", default=None, help="prodsync binary (default: build release)")
    parser.add_argument("--out", default=None, help="write all results as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = args.binary
    if binary is None:
        run(["cargo", "build", "--release", "--quiet"], cwd=root)
        binary = os.path.join(root, "target", "release", "prodsync")
    work = args.work or tempfile.mkdtemp(prefix="prodsync-bench-")
    results = []
    try:
        for size in args.sizes:
            results.append(measure(binary, size, args.batch_size, args.max_pages, work,
                                   size <= args.baseline_up_to, size in args.resume_at))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.out:
        with open(args.out, "w") as file:
            json.dump({"machine": {"cores": os.cpu_count()}, "results": results}, file, indent=2)


if __name__ == "__main__":
    main()
