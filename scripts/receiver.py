#!/usr/bin/env python3
"""A webhook receiver for trying Warren out: prints each request it gets and answers with
a fixed status.

    python3 scripts/receiver.py --port 9000 --status 200
"""
import argparse
import http.server
import json


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--status", type=int, default=200, help="the status to answer with")
    args = parser.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            print(json.dumps({"path": self.path, "headers": dict(self.headers),
                              "body": body.decode("utf-8", "replace")}, indent=2), flush=True)
            self.send_response(args.status)
            self.end_headers()

        def log_message(self, *_):
            pass

    print(f"receiving on http://127.0.0.1:{args.port}, answering {args.status}", flush=True)
    http.server.HTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
