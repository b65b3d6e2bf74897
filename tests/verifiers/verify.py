"""Verifies deliveries with the official Standard Webhooks library for Python.

Reads {"secret", "headers", "body_base64"} on stdin, or a list of them (a batch
subscription's requests, checked in one run); exits 0 when every signature verifies.
"""
import base64
import json
import sys

from standardwebhooks.webhooks import Webhook

requests = json.load(sys.stdin)
if isinstance(requests, dict):
    requests = [requests]
for n, request in enumerate(requests):
    body = base64.b64decode(request["body_base64"])
    try:
        Webhook(request["secret"]).verify(body, request["headers"])
    except Exception as error:  # the library raises its own WebhookVerificationError
        print(f"python standardwebhooks refused request {n}: {error}", file=sys.stderr)
        sys.exit(1)
