// Verifies one delivery with the official Standard Webhooks library for JavaScript.
// Reads {"secret", "headers", "body_base64"} on stdin; exits 0 when the signature verifies.
const { Webhook } = require("standardwebhooks");

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const { secret, headers, body_base64 } = JSON.parse(input);
  const body = Buffer.from(body_base64, "base64").toString("utf8");
  try {
    new Webhook(secret).verify(body, headers);
    process.exit(0);
  } catch (error) {
    console.error(`javascript standardwebhooks refused: ${error.message}`);
    process.exit(1);
  }
});
