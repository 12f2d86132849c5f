/**
 * Provider credentials and webhooks: secrets go in through the encryption repos (sealed with the
 * tenant's data key) and never come back out. Audit entries name the record, never the secret.
 */
import {
  providerCredentialsRepo,
  sealedManageRepo,
  tenantDeploymentsRepo,
  webhooksRepo,
  type CredentialMeta,
  type FieldSealer,
  type TenantTx,
  type WebhookMeta,
} from '../../store/index.js';
import { audit } from '../audit-hook.js';
import type { Actor } from '../context.js';
import type { IfMatch } from '../http/etag.js';
import { encodeAwsCredential, holdsAwsCredentials } from '../../routing/tenant-credentials.js';
import { conflict, invalid, lockedForChange, notFound } from '../problems.js';
import type { AwsCredentialBody } from '../schemas/secrets.js';
import { assertRoomFor } from './storage-quota.js';

const versioned = <T extends { stamp: string }>(row: T | null) => (row === null ? null : { ...row, version: row.stamp });

/** What a credential body carries: an API key, or (provider bedrock) AWS credentials. */
export interface CredentialSecretInput {
  secret?: string | undefined;
  aws?: AwsCredentialBody | undefined;
}

/** The plaintext to seal for a credential of `provider`: the key as given, or the AWS document. */
function plaintextOf(provider: string, input: CredentialSecretInput): string {
  if (holdsAwsCredentials(provider)) {
    const a = input.aws;
    if (a === undefined || input.secret !== undefined) throw invalid(`A ${provider} credential takes aws (access_key_id, secret_access_key, optional session_token, region), not secret.`, 'aws');
    return encodeAwsCredential({
      accessKeyId: a.access_key_id,
      secretAccessKey: a.secret_access_key,
      ...(a.session_token === undefined ? {} : { sessionToken: a.session_token }),
      region: a.region,
    });
  }
  if (input.secret === undefined || input.aws !== undefined) throw invalid(`A ${provider} credential takes secret; aws is only for provider bedrock.`, 'secret');
  return input.secret;
}

const credentialView = (c: CredentialMeta) => ({ name: c.name, provider: c.provider, baseUrl: c.baseUrl });
const webhookView = (w: WebhookMeta) => ({ url: w.url, events: w.events, enabled: w.enabled });

export async function createCredential(
  tx: TenantTx,
  actor: Actor,
  sealer: FieldSealer,
  input: { name: string; provider: string; base_url?: string | null | undefined } & CredentialSecretInput,
): Promise<CredentialMeta> {
  const secret = plaintextOf(input.provider, input);
  await assertRoomFor(tx);
  const r = await providerCredentialsRepo.create(tx, sealer, { name: input.name, provider: input.provider, baseUrl: input.base_url ?? null, secret });
  if (!r.ok) throw conflict(`A provider credential named "${input.name}" already exists.`, 'name');
  const meta = await sealedManageRepo.credential(tx, r.credential.id);
  if (meta === null) throw notFound('provider credential');
  await audit(tx, actor, 'provider_credential.create', { kind: 'provider_credential', id: meta.id }, { after: credentialView(meta) });
  return meta;
}

export async function replaceCredentialSecret(
  tx: TenantTx,
  actor: Actor,
  sealer: FieldSealer,
  id: string,
  input: CredentialSecretInput,
  ifMatch: IfMatch | null,
): Promise<CredentialMeta> {
  const before = await lockedForChange(async () => versioned(await sealedManageRepo.credential(tx, id, { forUpdate: true })), 'provider credential', ifMatch, false);
  // The stored provider kind decides the shape: a bedrock credential stays AWS credentials.
  const secret = plaintextOf(before.provider, input);
  if (!(await providerCredentialsRepo.replaceSecret(tx, sealer, id, secret))) throw notFound('provider credential');
  const after = await sealedManageRepo.credential(tx, id);
  if (after === null) throw notFound('provider credential');
  await audit(tx, actor, 'provider_credential.rotate_secret', { kind: 'provider_credential', id: after.id });
  return after;
}

export async function deleteCredential(tx: TenantTx, actor: Actor, id: string, ifMatch: IfMatch | null): Promise<void> {
  const before = await lockedForChange(async () => versioned(await sealedManageRepo.credential(tx, id, { forUpdate: true })), 'provider credential', ifMatch, true);
  const using = await tenantDeploymentsRepo.countUsing(tx, before.id);
  if (using > 0) throw conflict(`This provider credential is used by ${using} dedicated deployment(s); change or delete them first.`);
  if (!(await providerCredentialsRepo.remove(tx, id))) throw notFound('provider credential');
  await audit(tx, actor, 'provider_credential.delete', { kind: 'provider_credential', id: before.id }, { before: credentialView(before) });
}

export async function createWebhook(
  tx: TenantTx,
  actor: Actor,
  sealer: FieldSealer,
  input: { url: string; events: string[]; enabled: boolean; secret: string },
): Promise<WebhookMeta> {
  await assertRoomFor(tx);
  const w = await webhooksRepo.create(tx, sealer, input);
  const meta = await sealedManageRepo.webhook(tx, w.id);
  if (meta === null) throw notFound('webhook');
  await audit(tx, actor, 'webhook.create', { kind: 'webhook', id: meta.id }, { after: webhookView(meta) });
  return meta;
}

export async function updateWebhook(
  tx: TenantTx,
  actor: Actor,
  id: string,
  patch: { url?: string | undefined; events?: string[] | undefined; enabled?: boolean | undefined },
  ifMatch: IfMatch | null,
): Promise<WebhookMeta> {
  const before = await lockedForChange(async () => versioned(await sealedManageRepo.webhook(tx, id, { forUpdate: true })), 'webhook', ifMatch, true);
  const clean = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
  const after = await sealedManageRepo.updateWebhook(tx, id, clean);
  if (after === null) throw notFound('webhook');
  await audit(tx, actor, 'webhook.update', { kind: 'webhook', id }, { before: webhookView(before), after: webhookView(after) });
  return after;
}

export async function deleteWebhook(tx: TenantTx, actor: Actor, id: string, ifMatch: IfMatch | null): Promise<void> {
  const before = await lockedForChange(async () => versioned(await sealedManageRepo.webhook(tx, id, { forUpdate: true })), 'webhook', ifMatch, true);
  if (!(await webhooksRepo.remove(tx, id))) throw notFound('webhook');
  await audit(tx, actor, 'webhook.delete', { kind: 'webhook', id }, { before: webhookView(before) });
}
