#!/usr/bin/env python3
"""How long this disk takes to make an append durable, alone and with syncs overlapping.

    python3 tools/fsync-probe/fsync_probe.py [DIR]   # DIR: on the disk to measure (default .)

Prints, per run (two runs):
  - one writer appending 4 KiB and calling fdatasync each time (the journal's pattern
    with a tiny batch), and the same over a file written with zeros beforehand;
  - 1, 2 and 4 threads each appending 64 KiB to one shared file and calling fdatasync:
    whether this disk completes overlapping syncs faster than one at a time (what
    overlapping group commits would gain).
The probe files are deleted afterwards. Standard library only.
"""

import os
import sys
import threading
import time


def single(path, preallocated, count=600, size=4096):
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC)
    try:
        if preallocated:
            os.write(fd, b"\0" * (size * count))
            os.fsync(fd)
        buf = b"x" * size
        started = time.perf_counter()
        for i in range(count):
            os.pwrite(fd, buf, i * size)
            os.fdatasync(fd)
        return (time.perf_counter() - started) / count
    finally:
        os.close(fd)


def overlapping(path, threads, count=1500, size=64 * 1024):
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC)
    buf = b"x" * size
    lock = threading.Lock()
    end = [0]
    latencies = []

    def worker():
        for _ in range(count // threads):
            with lock:
                at = end[0]
                end[0] += size
            started = time.perf_counter()
            os.pwrite(fd, buf, at)
            os.fdatasync(fd)
            latencies.append(time.perf_counter() - started)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    took = time.perf_counter() - started
    os.close(fd)
    latencies.sort()
    return (
        len(latencies) / took,
        latencies[len(latencies) // 2] * 1e3,
        latencies[int(len(latencies) * 0.99)] * 1e3,
    )


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "."
    path = os.path.join(directory, f"fsync-probe-{os.getpid()}")
    try:
        for run in (1, 2):
            print(f"run {run}")
            print(f"  append 4 KiB + fdatasync:              {single(path, False) * 1e3:.3f} ms each")
            print(f"  overwrite zeroed 4 KiB + fdatasync:    {single(path, True) * 1e3:.3f} ms each")
            for threads in (1, 2, 4):
                rate, p50, p99 = overlapping(path, threads)
                print(
                    f"  {threads} thread(s), 64 KiB + fdatasync:   {rate:,.0f} syncs/s, p50 {p50:.3f} ms, p99 {p99:.3f} ms"
                )
    finally:
        if os.path.exists(path):
            os.remove(path)


if __name__ == "__main__":
    main()
