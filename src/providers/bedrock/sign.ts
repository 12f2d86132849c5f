/**
 * SigV4 request signing for the Bedrock Runtime (service `bedrock`), with AWS's maintained
 * signer. The signer is built once per deployment; signing is per request, since the signature
 * covers the body and the time.
 */
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsAccess } from '../types.js';

export const BEDROCK_SIGNING_SERVICE = 'bedrock';

export function createSigner(aws: AwsAccess): SignatureV4 {
  const credentials =
    aws.sessionToken === undefined
      ? { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey }
      : { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey, sessionToken: aws.sessionToken };
  return new SignatureV4({
    service: BEDROCK_SIGNING_SERVICE,
    region: aws.region,
    credentials,
    sha256: Hash.bind(null, 'sha256'),
    // Non-S3 services sign the path escaped once more than it is sent (AWS SDK behaviour).
    uriEscapePath: true,
    applyChecksum: true,
  });
}

export interface SignTarget {
  protocol: string;
  hostname: string;
  port: number | undefined;
  /** `host` header value: hostname[:port]. */
  host: string;
}

/**
 * The outbound headers of one request, signed: ours only (content-type, accept, accept-encoding, host), plus
 * x-amz-date, x-amz-content-sha256, x-amz-security-token (temporary credentials) and
 * authorization from the signer. Flat [name, value, ...] list for undici.
 */
export async function signedHeaders(
  signer: SignatureV4,
  target: SignTarget,
  path: string,
  body: string,
  accept: string,
  signingDate?: Date,
): Promise<string[]> {
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port,
      path,
      query: {},
      // Bodies are decoded from frames as they come, never decompressed (../upstream-call.ts).
      headers: { host: target.host, 'content-type': 'application/json', accept, 'accept-encoding': 'identity' },
      body,
    },
    signingDate === undefined ? undefined : { signingDate },
  );
  const flat: string[] = [];
  for (const [name, value] of Object.entries(signed.headers)) flat.push(name, value);
  return flat;
}

export function signTarget(baseUrl: string): SignTarget {
  const url = new URL(baseUrl);
  return {
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port === '' ? undefined : Number(url.port),
    host: url.host,
  };
}
