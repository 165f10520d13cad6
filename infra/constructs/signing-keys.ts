/**
 * The control plane's two signing keys. Their private halves never leave KMS. Two keys, not
 * one, because they differ in algorithm and in life: a token key may be replaced at any time
 * (tokens live 15 minutes), while the log key is the log's identity, which auditors pin to
 * verify every checkpoint and bundle ever signed.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Key, KeySpec, KeyUsage } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

export class SigningKeys extends Construct {
  /**
   * RSA_2048, signing RS256 (RSASSA_PKCS1_V1_5_SHA_256) Warden tokens. Not the ES256 key the
   * local form uses: the HTTP API's JWT authorizer verifies RSA signatures only, and it checks
   * Warden tokens on the public bearer routes (control-plane-api.ts).
   */
  readonly tokens: Key;
  /**
   * ECC_NIST_EDWARDS25519, signing with ED25519_SHA_512 and MessageType RAW: pure Ed25519
   * (RFC 8032) over the note text, byte for byte what the local signer produces, so C2SP
   * signed notes (checkpoints) and bundle manifests verify with the same vkey. The vkey is
   * built from GetPublicKey (the last 32 bytes of the SPKI). RAW messages are limited to
   * 4096 bytes, far above a checkpoint's size.
   */
  readonly log: Key;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const signing = { keyUsage: KeyUsage.SIGN_VERIFY, pendingWindow: Duration.days(30), removalPolicy: RemovalPolicy.RETAIN };
    this.tokens = new Key(this, 'Tokens', { ...signing, keySpec: KeySpec.RSA_2048, description: 'Warden: signs Warden tokens (RS256)' });
    this.log = new Key(this, 'Log', { ...signing, keySpec: KeySpec.ECC_NIST_EDWARDS25519, description: 'Warden: signs ledger checkpoints and evidence manifests (Ed25519)' });
  }
}
