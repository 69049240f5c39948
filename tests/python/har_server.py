#!/usr/bin/env python3
"""Serve a HAR file's responses over HTTP on 127.0.0.1: a recorded Metabase, live again.

    har_server.py FILE.har [EARLIER.har ...] [--lifetime SECONDS] [--gzip] [--tls CERT.pem KEY.pem]

Prints `PORT <n>` then `READY` on stdout. A request is answered by the HAR entry with the same
method, path and query (parameters in any order; the host is ignored), entries in order and the
last match reused once they run out, as the host's --replay does; the request's headers and body
are not compared. No match: 404 `API endpoint does not exist.` (what Metabase says). With --gzip,
bodies are sent gzip-compressed (`Content-Encoding: gzip`) to clients that accept it. The server
stops by itself after --lifetime seconds (default 300). Standard library only: the server is the
Python host's replay module (python/metabase_source_wasm/_replay.py), loaded from its file.
"""
import argparse
import importlib.util
import os
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
REPLAY = os.path.join(HERE, "..", "..", "python", "metabase_source_wasm", "_replay.py")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("har", nargs="+", help="a request FILE.har has no entry for is answered from the next file")
    ap.add_argument("--lifetime", type=float, default=300)
    ap.add_argument("--gzip", action="store_true", help="compress bodies for clients that accept gzip")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve https with this certificate chain and key")
    a = ap.parse_args()
    spec = importlib.util.spec_from_file_location("har_replay", REPLAY)
    replay = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(replay)
    server = replay.HarServer(*a.har, compress=a.gzip, tls=a.tls)
    print("PORT %d\nREADY" % server.port, flush=True)
    done = threading.Event()
    done.wait(a.lifetime)
    server.close()


if __name__ == "__main__":
    main()
