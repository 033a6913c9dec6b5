"""A subscriber for the README walk-through: prints each notification it receives.

    python3 docs/walkthrough/listener.py 9090
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Listener(BaseHTTPRequestHandler):
    def _receive(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        print(self.command, self.path, "Authorization:", self.headers.get("Authorization"))
        if body:
            bundle = json.loads(body)
            status = {p["name"]: p for p in bundle["entry"][0]["resource"]["parameter"]}
            print("  type:", status["type"]["valueCode"],
                  "status:", status["status"]["valueCode"])
            for entry in bundle["entry"][1:]:
                resource = entry.get("resource", {})
                print("  focus:", entry["fullUrl"], resource.get("description", ""))
        sys.stdout.flush()
        self.send_response(200)
        self.end_headers()

    do_POST = do_PUT = _receive

    def log_message(self, *args):  # the notifications are printed above
        pass


HTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 9090), Listener).serve_forever()
