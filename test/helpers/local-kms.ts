/**
 * A local KMS for tests (TrentService over AWS JSON 1.1): GetPublicKey and Sign, backed by
 * node:crypto keys of the two specs Warden uses, ECC_NIST_EDWARDS25519 (ED25519_SHA_512, RAW)
 * and RSA_2048 (RSASSA_PKCS1_V1_5_SHA_256, RAW or DIGEST).
 */
import { constants, generateKeyPairSync, privateEncrypt, randomUUID, sign, type KeyObject } from 'node:crypto';
import { AwsError, startAwsJsonServer, type AwsJsonServer } from './aws-json-server.js';

export type LocalKeySpec = 'ECC_NIST_EDWARDS25519' | 'RSA_2048';

const algorithms: Record<LocalKeySpec, string> = { ECC_NIST_EDWARDS25519: 'ED25519_SHA_512', RSA_2048: 'RSASSA_PKCS1_V1_5_SHA_256' };

// DER DigestInfo of a SHA-256 digest (RFC 8017 §9.2, note 1): what PKCS #1 v1.5 signs around a precomputed digest.
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

export interface LocalKms extends AwsJsonServer {
  /** A new key; returns its key id. */
  createKey(spec: LocalKeySpec): string;
}

export async function startLocalKms(): Promise<LocalKms> {
  const keys = new Map<string, { spec: LocalKeySpec; privateKey: KeyObject; publicKey: KeyObject }>();
  const keyOf = (input: Record<string, unknown>) => {
    const key = keys.get(String(input.KeyId));
    if (!key) throw new AwsError('NotFoundException', `Key '${String(input.KeyId)}' does not exist`);
    return key;
  };
  const server = await startAwsJsonServer('TrentService', {
    GetPublicKey: (input) => {
      const key = keyOf(input);
      return { KeyId: input.KeyId, KeySpec: key.spec, KeyUsage: 'SIGN_VERIFY', SigningAlgorithms: [algorithms[key.spec]], PublicKey: key.publicKey.export({ format: 'der', type: 'spki' }).toString('base64') };
    },
    Sign: (input) => {
      const key = keyOf(input);
      if (input.SigningAlgorithm !== algorithms[key.spec]) throw new AwsError('InvalidKeyUsageException', `${String(input.SigningAlgorithm)} is not valid for ${key.spec}`);
      const message = Buffer.from(String(input.Message), 'base64');
      const type = input.MessageType ?? 'RAW';
      let signature: Buffer;
      if (key.spec === 'ECC_NIST_EDWARDS25519') {
        if (type !== 'RAW') throw new AwsError('ValidationException', 'ED25519_SHA_512 signs RAW messages only');
        signature = sign(null, message, key.privateKey);
      } else if (type === 'DIGEST') {
        if (message.length !== 32) throw new AwsError('ValidationException', 'a SHA-256 digest is 32 bytes');
        signature = privateEncrypt({ key: key.privateKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([SHA256_DIGEST_INFO, message]));
      } else {
        signature = sign('sha256', message, key.privateKey);
      }
      return { KeyId: input.KeyId, SigningAlgorithm: input.SigningAlgorithm, Signature: signature.toString('base64') };
    },
  });
  return {
    ...server,
    createKey: (spec) => {
      const keyId = randomUUID();
      const pair = spec === 'RSA_2048' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
      keys.set(keyId, { spec, ...pair });
      return keyId;
    },
  };
}
