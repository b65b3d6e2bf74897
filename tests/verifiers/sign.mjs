// Signs a request body the way each provider does, with the provider's own library where one
// exists, so Warren's verification is tested against them and not against itself.
// Reads {"provider", "secret", "payload", "timestamp"?, "id"?} on stdin; prints the headers.
import { sign as githubSign } from "@octokit/webhooks-methods";
import Stripe from "stripe";
import standardwebhooks from "standardwebhooks";
import { createHmac } from "node:crypto";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { provider, secret, payload, timestamp, id } = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const now = timestamp ?? Math.floor(Date.now() / 1000);

const signers = {
  // Stripe's own test helper (what `stripe.webhooks.constructEvent` verifies).
  stripe: () => ({
    "stripe-signature": new Stripe("sk_test_unused").webhooks.generateTestHeaderString({ payload, secret, timestamp: now }),
  }),
  // GitHub's official signing helper.
  github: async () => ({ "x-hub-signature-256": await githubSign(secret, payload) }),
  // The Standard Webhooks reference library.
  standard_webhooks: () => {
    const msgId = id ?? "msg_test";
    const signature = new standardwebhooks.Webhook(secret).sign(msgId, new Date(now * 1000), payload);
    return { "webhook-id": msgId, "webhook-timestamp": String(now), "webhook-signature": signature };
  },
  // Shopify documents the algorithm (HMAC-SHA256 of the raw body, base64) rather than
  // shipping a small signing helper; this follows their documentation.
  shopify: () => ({ "x-shopify-hmac-sha256": createHmac("sha256", secret).update(payload, "utf8").digest("base64") }),
  hmac_sha256: () => ({ "x-signature": "sha256=" + createHmac("sha256", secret).update(payload, "utf8").digest("hex") }),
};

const signer = signers[provider];
if (!signer) {
  console.error(`unknown provider ${provider}`);
  process.exit(2);
}
process.stdout.write(JSON.stringify(await signer()));
