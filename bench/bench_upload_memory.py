"""Server memory under a burst of describe uploads: decode slots keep it flat.

Starts ``dreamloom serve`` (the ``instant`` runner) twice: with ``DREAMLOOM_IMAGE_DECODES``
at ``--uploads`` (every upload decoded at once, as before the bound) and at its default (2);
each time ``--uploads`` clients POST a flat-colour PNG of ``--megapixels`` (under the pixel
limit; ~100 KB on the wire) to ``/v3/midjourney/jobs/describe`` at the same moment, while the
server's resident memory is sampled every 10 ms. Printed: the server's RSS before and at its
peak, for each setting, and the ratio of the growths. A PNG over the limit (36 Mpx) is also
sent once: it is refused from its header (400) and does not move the RSS.

Not a timed test: memory depends on the allocator and the machine; the ratio is what to read.

    python bench/bench_upload_memory.py                 # 12 uploads of 24 Mpx
    python bench/bench_upload_memory.py --uploads 24 --megapixels 16
"""

from __future__ import annotations

import argparse
import math
import os
import struct
import tempfile
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench_api import make_users, server


def flat_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    packer = zlib.compressobj(9)
    row = b"\x00" + b"\xdc\x1e\x1e" * width
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


class _Sampler:
    """The server's resident memory (Linux ``/proc``), sampled every 10 ms while entered."""

    def __init__(self, pid: int) -> None:
        self.status = Path(f"/proc/{pid}/status")
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        for line in self.status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS in /proc")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.01)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _upload(base: str, token: str, data: bytes) -> int:
    response = httpx.post(
        f"{base}/v3/midjourney/jobs/describe",
        headers={"Authorization": f"Bearer {token}"},
        files={"imageBlob": ("picture.png", data, "image/png")},
        data={"stream": "false"},
        timeout=300,
    )
    return response.status_code


def run_once(root: Path, decodes: int, uploads: int, data: bytes, huge: bytes) -> tuple[int, int]:
    os.environ["DREAMLOOM_IMAGE_DECODES"] = str(decodes)
    with server(root / f"decodes-{decodes}", workers=1) as (base, pid):
        tokens = make_users(base, uploads, f"mem{decodes}-")
        sampler = _Sampler(pid)
        time.sleep(1.0)
        before = sampler.rss()
        assert _upload(base, tokens[0], huge) == 400  # refused from its header
        with sampler, ThreadPoolExecutor(uploads) as pool:
            codes = list(pool.map(lambda t: _upload(base, t, data), tokens))
        assert codes == [201] * uploads, codes
        return before, sampler.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=12)
    parser.add_argument("--megapixels", type=float, default=24.0)
    args = parser.parse_args()
    side = int(math.sqrt(args.megapixels * 1_000_000))
    data = flat_png(side, side)
    huge = flat_png(6000, 6000)
    print(f"{args.uploads} concurrent describes of {side}x{side} PNGs ({len(data):,} bytes each)")
    growth = {}
    with tempfile.TemporaryDirectory(prefix="dreamloom-bench-mem-") as tmp:
        for decodes in (args.uploads, 2):
            before, peak = run_once(Path(tmp), decodes, args.uploads, data, huge)
            growth[decodes] = peak - before
            print(
                f"  image_decodes={decodes:>3}: RSS {before / 2**20:7.0f} MB -> peak "
                f"{peak / 2**20:7.0f} MB (+{(peak - before) / 2**20:.0f} MB)"
            )
    ratio = growth[2] / max(1, growth[args.uploads])
    print(f"  growth with the bound / without: {ratio:.2f}")


if __name__ == "__main__":
    main()
