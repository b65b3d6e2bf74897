"""An aiosmtpd handler for the notification tests: writes each mail it accepts to a JSON file
in a directory, decoded as a mail client would read it.

    python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c smtp_sink.JsonSink DIR

(with this directory on PYTHONPATH). Each file holds {"mail_from", "rcpt_tos", "from", "to",
"subject", "content_type", "body"}; it is written under a temporary name and renamed, so a
reader never sees half a mail.
"""
import json
import os
import uuid
from email import message_from_bytes, policy


class JsonSink:
    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("JsonSink takes the directory to write mails to")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        mail = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "from": str(mail["From"]),
            "to": str(mail["To"]),
            "subject": str(mail["Subject"]),
            "content_type": mail.get_content_type(),
            "body": mail.get_content(),
        }
        name = uuid.uuid4().hex
        temporary = os.path.join(self.directory, f".{name}.tmp")
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(record, file)
        os.rename(temporary, os.path.join(self.directory, f"{name}.json"))
        return "250 Message accepted for delivery"
