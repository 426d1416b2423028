#!/usr/bin/env python3
"""pp-filter against the plain-Python reference (json + zstandard) on the same input, in one run.

  filter_bench.py --pp-filter .build/release/pp-filter --python /path/to/python-with-zstandard \
      --input runs/synth/rows-100k.jsonl.zst [--small runs/synth/rows-10k.jsonl.zst] [--repeat 3]

Prints rows/s of both (best of --repeat wall times), the ratio, and the peak resident memory of
each process (getrusage ru_maxrss of the child: the number /usr/bin/time -v reports). With
--small, pp-filter's peak memory is also shown on a 10x smaller input (memory independent of
input size). Checks that both outputs decompress to the same bytes. Uses only the standard
library itself; the reference needs `zstandard` in --python.
"""
import argparse
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def measure(cmd):
    """Runs cmd in a fresh wrapper process so ru_maxrss covers exactly this command."""
    code = ("import resource, subprocess, sys, time\n"
            "t = time.perf_counter(); r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
            "w = time.perf_counter() - t; u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
            "sys.stderr.buffer.write(r.stderr) if r.returncode else None\n"
            "print(r.returncode, w, u.ru_maxrss, u.ru_utime + u.ru_stime)\n")
    out = subprocess.run([sys.executable, "-c", code] + cmd, capture_output=True, text=True)
    rc, wall, rss, cpu = out.stdout.split()
    if int(rc) != 0:
        sys.exit(f"failed ({rc}): {' '.join(cmd)}\n{out.stderr}")
    return float(wall), int(rss), float(cpu)


def decompressed_sha(path):
    data = subprocess.run(["zstd", "-dc", path], capture_output=True, check=True).stdout
    return hashlib.sha256(data).hexdigest(), data.count(b"\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pp-filter", required=True)
    ap.add_argument("--python", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--small")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", default="0", help="pp-filter --threads (0 = all cores)")
    a = ap.parse_args()

    rows = int(subprocess.run(["zstd", "-dc", a.input], capture_output=True, check=True).stdout.count(b"\n"))
    with tempfile.TemporaryDirectory() as tmp:
        swift_out = os.path.join(tmp, "swift.jsonl.zst")
        py_out = os.path.join(tmp, "py.jsonl.zst")
        swift_cmd = [a.pp_filter, a.input, "-o", swift_out, "--quiet", "--threads", a.threads]
        py_cmd = [a.python, os.path.join(HERE, "filter_reference.py"), a.input, "-o", py_out]
        results = {"pp-filter": [], "python": []}
        for _ in range(a.repeat):  # interleaved, so load changes hit both alike
            results["pp-filter"].append(measure(swift_cmd))
            results["python"].append(measure(py_cmd))
        same = decompressed_sha(swift_out) == decompressed_sha(py_out)
        kept = decompressed_sha(swift_out)[1]
        small = None
        if a.small:
            small_rows = int(subprocess.run(["zstd", "-dc", a.small], capture_output=True, check=True).stdout.count(b"\n"))
            small = (small_rows, min(measure([a.pp_filter, a.small, "-o", swift_out + ".small.zst", "--quiet",
                                              "--threads", a.threads])[1] for _ in range(2)))

    print(f"filter benchmark: {rows} rows in ({os.path.basename(a.input)}), {kept} kept, "
          f"default filter (taboo / WordGuesser / drop aborted), zstd in and out")
    best = {}
    for name, runs in results.items():
        wall = min(r[0] for r in runs)
        rss = max(r[1] for r in runs)
        cpu = min(r[2] for r in runs)
        best[name] = (wall, cpu)
        print(f"  {name:9s}  {rows / wall:10.0f} rows/s  (best wall {wall:.3f} s of {len(runs)}, "
              f"cpu {cpu:.3f} s)  peak RSS {rss / 1024:.1f} MiB")
    print(f"  ratio      {best['python'][0] / best['pp-filter'][0]:.1f}x wall, "
          f"{best['python'][1] / best['pp-filter'][1]:.1f}x cpu time (goal >= 5x)")
    if small:
        print(f"  pp-filter peak RSS on {small[0]} rows: {small[1] / 1024:.1f} MiB "
              f"(vs {max(r[1] for r in results['pp-filter']) / 1024:.1f} MiB on {rows} rows)")
    print(f"  outputs identical after decompression: {'yes' if same else 'NO'}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
