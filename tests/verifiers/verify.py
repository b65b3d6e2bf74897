"""Verifies one delivery with the official Standard Webhooks library for Python.

Reads {"secret", "headers", "body_base64"} on stdin; exits 0 when the signature verifies.
"""
import base64
import json
import sys

from standardwebhooks.webhooks import Webhook

request = json.load(sys.stdin)
body = base64.b64decode(request["body_base64"])
try:
    Webhook(request["secret"]).verify(body, request["headers"])
except Exception as error:  # the library raises its own WebhookVerificationError
    print(f"python standardwebhooks refused: {error}", file=sys.stderr)
    sys.exit(1)
