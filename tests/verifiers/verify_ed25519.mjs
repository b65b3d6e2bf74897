// Verifies a Standard Webhooks `v1a` (Ed25519) signature with Node's own crypto (OpenSSL),
// an implementation independent of Warren's. Reads {"public_key": "whpk_…", "headers",
// "body_base64"} on stdin; exits 0 when one of the header's `v1a` signatures verifies.
import { createPublicKey, verify } from "node:crypto";

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const { public_key, headers, body_base64 } = JSON.parse(input);
  const raw = Buffer.from(public_key.replace(/^whpk_/, ""), "base64");
  const key = createPublicKey({
    key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") },
    format: "jwk",
  });
  const content = Buffer.concat([
    Buffer.from(`${headers["webhook-id"]}.${headers["webhook-timestamp"]}.`),
    Buffer.from(body_base64, "base64"),
  ]);
  const verified = headers["webhook-signature"]
    .split(" ")
    .filter((candidate) => candidate.startsWith("v1a,"))
    .some((candidate) => verify(null, content, key, Buffer.from(candidate.slice(4), "base64")));
  if (!verified) {
    console.error("node:crypto found no valid v1a signature");
  }
  process.exit(verified ? 0 : 1);
});
