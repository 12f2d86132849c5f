/**
 * AWS region names, shared by the configuration file, the admin API and the snapshot loader
 * without loading the signer.
 */

/** An AWS region name (us-east-1, eu-central-1, ap-southeast-2, us-gov-west-1...): the signing scope. */
export const AWS_REGION = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;

/** The region in a standard Bedrock Runtime host name (bedrock-runtime[-fips].{region}.amazonaws.com). */
export function regionOfBedrockHost(hostname: string): string | undefined {
  return /^bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com$/.exec(hostname.toLowerCase())?.[1];
}
