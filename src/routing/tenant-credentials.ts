/**
 * What a tenant's provider credential holds once sealed with its data key. For API-key providers
 * (OpenAI, Azure, Anthropic, Gemini...) it is the key as given. For Bedrock it is the tenant's
 * own AWS credentials: access key id, secret access key, optional session token and the region
 * requests are signed for, which only make sense together, so they are sealed as one small JSON
 * document (versioned, so its shape can change) and opened only by the snapshot loader.
 *
 * A Bedrock credential is never handed to another provider kind, nor an API key to Bedrock
 * (`dedicatedProblem` in ./tenant-deployments.ts): the JSON would otherwise be sent upstream as
 * a bearer token.
 */
import { z } from 'zod';
import { AWS_REGION } from '../providers/bedrock/region.js';
import type { AwsAccess } from '../providers/types.js';

/** Provider kinds whose credential is AWS credentials rather than one secret string. */
export function holdsAwsCredentials(provider: string): boolean {
  return provider === 'bedrock';
}

const sealedAws = z.strictObject({
  v: z.literal(1),
  accessKeyId: z.string().min(1),
  secretAccessKey: z.string().min(1),
  sessionToken: z.string().min(1).optional(),
  region: z.string().regex(AWS_REGION),
});

/** The plaintext sealed for a Bedrock credential. */
export function encodeAwsCredential(aws: AwsAccess): string {
  const doc: z.input<typeof sealedAws> = { v: 1, accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey, region: aws.region };
  if (aws.sessionToken !== undefined) doc.sessionToken = aws.sessionToken;
  return JSON.stringify(doc);
}

/** The AWS credentials of an opened Bedrock secret; undefined when it is not one (never says why: it is secret). */
export function decodeAwsCredential(plaintext: string): AwsAccess | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(plaintext);
  } catch {
    return undefined;
  }
  const r = sealedAws.safeParse(parsed);
  if (!r.success) return undefined;
  const { accessKeyId, secretAccessKey, sessionToken, region } = r.data;
  return sessionToken === undefined ? { accessKeyId, secretAccessKey, region } : { accessKeyId, secretAccessKey, sessionToken, region };
}
