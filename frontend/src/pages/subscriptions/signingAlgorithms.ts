// The four kinds of signing key: what the form offers, and how each one's signatures read.
import type { SigningAlgorithm } from '../../api'

interface AlgorithmInfo {
  label: string
  /** Whether receivers verify with a public key (the private key never leaves Warren). */
  publicKey: boolean
  /** How a receiver checks the `webhook-signature` header. */
  verify: string
}

export const SIGNING_ALGORITHMS: Record<SigningAlgorithm, AlgorithmInfo> = {
  hmac_sha256: {
    label: 'HMAC-SHA256',
    publicKey: false,
    verify: 'v1 signatures (Standard Webhooks, HMAC-SHA256): verify them with this secret.',
  },
  hmac_sha512: {
    label: 'HMAC-SHA512',
    publicKey: false,
    verify: 'v1s signatures (HMAC-SHA512 of the same content, the key being the base64 after whsec_): verify them with this secret.',
  },
  ed25519: {
    label: 'Ed25519',
    publicKey: true,
    verify: 'v1a signatures (Ed25519): verify them with this public key.',
  },
  rsa_pss_sha256: {
    label: 'RSA-PSS-SHA256',
    publicKey: true,
    verify: 'v1r signatures (RSASSA-PSS with SHA-256, MGF1-SHA-256, a 32-byte salt, 2048-bit key): verify them with this PEM public key.',
  },
}

/** The algorithms as select options, in the order the form lists them. */
export const signingAlgorithmOptions = (Object.keys(SIGNING_ALGORITHMS) as SigningAlgorithm[]).map((value) => ({
  value,
  label: SIGNING_ALGORITHMS[value].label,
}))
