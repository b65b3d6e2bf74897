// Verifies a Warren signature that no Standard Webhooks library knows, with Node's own crypto
// (OpenSSL): an implementation independent of Warren's. Reads {"algorithm", "key", "headers",
// "body_base64"} on stdin, where algorithm and key are one of
//   ed25519         the `whpk_` public key       `v1a,<base64 Ed25519 signature>`
//   hmac_sha512     the `whsec_` secret          `v1s,<base64 HMAC-SHA512>`
//   rsa_pss_sha256  the PEM public key           `v1r,<base64 RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32>`
// and exits 0 when one of the header's signatures of that kind verifies over
// `<webhook-id>.<webhook-timestamp>.<body>`.
import { constants, createHmac, createPublicKey, timingSafeEqual, verify } from "node:crypto";

const KINDS = {
  ed25519: {
    tag: "v1a,",
    check(key, content, signature) {
      const raw = Buffer.from(key.replace(/^whpk_/, ""), "base64");
      const publicKey = createPublicKey({
        key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") },
        format: "jwk",
      });
      return verify(null, content, publicKey, signature);
    },
  },
  hmac_sha512: {
    tag: "v1s,",
    check(key, content, signature) {
      if (!key.startsWith("whsec_")) throw new Error("an HMAC-SHA512 secret is whsec_…");
      const expected = createHmac("sha512", Buffer.from(key.slice(6), "base64")).update(content).digest();
      return expected.length === signature.length && timingSafeEqual(expected, signature);
    },
  },
  rsa_pss_sha256: {
    tag: "v1r,",
    check(key, content, signature) {
      const publicKey = { key: createPublicKey(key), padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
      return verify("sha256", content, publicKey, signature);
    },
  },
};

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const { algorithm, key, headers, body_base64 } = JSON.parse(input);
  const kind = KINDS[algorithm];
  if (!kind) throw new Error(`unknown algorithm ${algorithm}`);
  const content = Buffer.concat([
    Buffer.from(`${headers["webhook-id"]}.${headers["webhook-timestamp"]}.`),
    Buffer.from(body_base64, "base64"),
  ]);
  const verified = headers["webhook-signature"]
    .split(" ")
    .filter((candidate) => candidate.startsWith(kind.tag))
    .some((candidate) => kind.check(key, content, Buffer.from(candidate.slice(kind.tag.length), "base64")));
  if (!verified) {
    console.error(`node:crypto found no valid ${kind.tag.slice(0, -1)} signature`);
  }
  process.exit(verified ? 0 : 1);
});
