/**
 * Forged and broken variants of a genuine JWT, for token attacks: unsigned (alg none), HMAC
 * keyed with the public key, tampered claims, signed by another key under the same kid, and —
 * with the genuine private key, to isolate each claim check — expired, another audience, another
 * issuer. Each is named and says which check must refuse it.
 */
import { createHmac } from 'node:crypto';
import { base64url, decodeJwt, decodeProtectedHeader, generateKeyPair, importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';

export interface ForgedToken {
  readonly name: string;
  readonly token: string;
}

const encode = (value: unknown) => base64url.encode(JSON.stringify(value));

/** The header and claims of `genuine`, re-signed or unsigned in every way a forger might try. */
export async function forgeries(genuine: string, options: { privateJwk: JWK; publicJwk: JWK }): Promise<ForgedToken[]> {
  const header = decodeProtectedHeader(genuine);
  const claims = decodeJwt(genuine);
  const [genuineHeader, , genuineSignature] = genuine.split('.');
  const privateKey = await importJWK(options.privateJwk, 'ES256');
  const now = Math.floor(Date.now() / 1000);
  const signWithTheKey = (changed: JWTPayload) => new SignJWT(changed).setProtectedHeader({ alg: 'ES256', ...(header.kid ? { kid: header.kid } : {}), typ: 'JWT' }).sign(privateKey);
  const hmacInput = `${encode({ alg: 'HS256', typ: 'JWT', ...(header.kid ? { kid: header.kid } : {}) })}.${encode(claims)}`;
  const hmacSecret = JSON.stringify(options.publicJwk);
  const otherKey = (await generateKeyPair('ES256')).privateKey;
  return [
    { name: 'alg none', token: `${encode({ alg: 'none', typ: 'JWT' })}.${encode(claims)}.` },
    { name: 'HS256 keyed with the public key', token: `${hmacInput}.${createHmac('sha256', hmacSecret).update(hmacInput).digest('base64url')}` },
    { name: 'tampered payload', token: `${genuineHeader}.${encode({ ...claims, sub: 'root', groups: ['auditors', 'approvers', 'admin'] })}.${genuineSignature}` },
    { name: 'payload that is not JSON', token: `${genuineHeader}.${base64url.encode('{"sub":')}.${genuineSignature}` },
    { name: 'another key with the same kid', token: await new SignJWT(claims).setProtectedHeader({ ...header, alg: 'ES256' }).sign(otherKey) },
    { name: 'expired', token: await signWithTheKey({ ...claims, iat: now - 3600, exp: now - 60 }) },
    { name: 'another issuer', token: await signWithTheKey({ ...claims, iss: 'https://evil.example/' }) },
    { name: 'truncated', token: genuine.slice(0, genuine.length - 20) },
    { name: 'signature stripped', token: `${genuineHeader}.${genuine.split('.')[1]}.` },
    { name: 'a megabyte long', token: `${genuine}${'A'.repeat(1_048_576)}` },
  ];
}

/** `genuine`'s claims signed with its own key but for other connections (aud). */
export async function forOtherAudience(genuine: string, privateJwk: JWK, audience: string[]): Promise<string> {
  const header = decodeProtectedHeader(genuine);
  return new SignJWT({ ...decodeJwt(genuine), aud: audience }).setProtectedHeader({ alg: 'ES256', ...(header.kid ? { kid: header.kid } : {}), typ: 'JWT' }).sign(await importJWK(privateJwk, 'ES256'));
}
