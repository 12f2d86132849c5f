/**
 * `gatehouse keys ...`: the key-management jobs of src/crypto as commands.
 *
 * - rotate-master: re-wraps every tenant's data keys under the KEK of GATEHOUSE_MASTER_KEY
 *   (the new master key), unwrapping with GATEHOUSE_MASTER_KEY_PREVIOUS (the old ones). Data
 *   keys and ciphertexts do not change; gateways keep serving throughout.
 * - rotate-data-key --tenant: a new active data key for one tenant, then (unless told not to)
 *   its ciphertexts re-encrypted onto it.
 * - shred-due: destroys the data keys of deleted tenants whose grace period has passed (the
 *   gateway also does this hourly).
 *
 * Each returns a printable report and the exit code; main.ts wires the arguments. Rotations are
 * administrative changes, so each appends an audit entry (the master key's to the platform
 * scope, a tenant's to the tenant); shredding is the scheduled end of a deletion that was audited
 * when it was requested.
 */
import { appendAudit, type AuditActor } from '../audit/index.js';
import { loadConfig } from '../config/load.js';
import type { LoadedConfig } from '../config/types.js';
import type { Kms } from '../crypto/kms.js';
import { countDataKeysByKek, rotateMasterKey } from '../crypto/master-rotation.js';
import { reencryptTenant } from '../crypto/reencrypt.js';
import { shredDueTenants } from '../crypto/shredding.js';
import { rotateDataKey } from '../crypto/tenant-keys.js';
import { PLATFORM_SCOPE_ID } from '../identity/roles.js';
import { findTenantByRef } from '../store/index.js';
import { openCliStore, type CliStore } from './cli-store.js';

export interface CommandReport {
  /** 0: done; 1: done with problems, or failed; 2: no such tenant. */
  exitCode: 0 | 1 | 2;
  /** For stdout. */
  out: string;
  /** For stderr. */
  err: string;
}

const CLI: AuditActor = { kind: 'system', id: 'cli' };

/** Opens the store for `command`, runs `fn`, closes the store (tenants.ts uses it too). */
export async function withCli(command: string, env: NodeJS.ProcessEnv, fn: (cli: CliStore, config: LoadedConfig) => Promise<CommandReport>): Promise<CommandReport> {
  const config = await loadConfig({ env });
  const cli = await openCliStore(config, env, command);
  try {
    return await fn(cli, config);
  } finally {
    await cli.close();
  }
}

export function runRotateMaster(env: NodeJS.ProcessEnv = process.env): Promise<CommandReport> {
  return withCli('keys rotate-master', env, async (cli) => {
    const to = cli.keyring.current;
    const from = cli.keyring.keyIds.filter((id) => id !== to.keyId).map((id) => cli.keyring.kms(id) as Kms);
    let out = `re-wrapping data keys under ${to.keyId} (GATEHOUSE_MASTER_KEY)` +
      (from.length === 0 ? '; no previous master key given (GATEHOUSE_MASTER_KEY_PREVIOUS)\n' : ` from ${from.map((k) => k.keyId).join(', ')}\n`);
    const result = await rotateMasterKey(cli.store, {
      from,
      to,
      onTenant: (tenantId, n) => {
        if (n > 0) out += `  tenant ${tenantId}: ${n} re-wrapped\n`;
      },
    });
    const byKek = await countDataKeysByKek(cli.store);
    await cli.store.withTenant(PLATFORM_SCOPE_ID, (tx) =>
      appendAudit(tx, {
        actor: CLI,
        action: 'master_key.rotate',
        target: { kind: 'kek', id: to.keyId },
        outcome: result.unknownKek.length === 0 ? 'success' : 'failure',
        after: { tenants: result.tenants, rewrapped: result.rewrapped, unknown_kek: result.unknownKek.length, from: from.map((k) => k.keyId) },
      }),
    );
    out += `${result.rewrapped} data keys of ${result.tenants} tenants re-wrapped\n`;
    out += `data keys by KEK now: ${Object.entries(byKek).map(([id, n]) => `${id} ${n}`).join(', ') || 'none'}\n`;
    let err = '';
    for (const u of result.unknownKek) {
      err += `tenant ${u.tenantId} data key version ${u.version} is wrapped by ${u.kekId}, which neither GATEHOUSE_MASTER_KEY nor GATEHOUSE_MASTER_KEY_PREVIOUS holds: add that master key to GATEHOUSE_MASTER_KEY_PREVIOUS and run again\n`;
    }
    if (err === '') {
      out +=
        'done. Keep the old key in GATEHOUSE_MASTER_KEY_PREVIOUS while API and admin keys created before the rotation are in use:\n' +
        'their hashes are keyed by it (rotate those keys, then drop it).\n';
    }
    return { exitCode: err === '' ? 0 : 1, out, err };
  });
}

export interface RotateDataKeyOptions {
  /** Also move the tenant's ciphertexts onto the new key (default). */
  reencrypt?: boolean;
}

export function runRotateDataKey(tenantRef: string, opts: RotateDataKeyOptions = {}, env: NodeJS.ProcessEnv = process.env): Promise<CommandReport> {
  return withCli('keys rotate-data-key', env, async (cli) => {
    const tenant = await cli.store.platform((tx) => findTenantByRef(tx, tenantRef));
    if (tenant === null) return { exitCode: 2, out: '', err: `gatehouse keys rotate-data-key: no tenant ${JSON.stringify(tenantRef)}\n` };
    const version = await cli.store.withTenant(tenant.id, async (tx) => {
      const v = await rotateDataKey(tx, cli.keyring);
      await appendAudit(tx, { actor: CLI, action: 'data_key.rotate', target: { kind: 'data_key', id: String(v) }, outcome: 'success', after: { version: v } });
      return v;
    });
    let out = `tenant ${tenant.slug} (${tenant.id}): data key version ${version} is now active\n`;
    if (opts.reencrypt === false) return { exitCode: 0, out: `${out}ciphertexts left under their keys (--no-reencrypt); older versions keep decrypting\n`, err: '' };
    const moved = await reencryptTenant(cli.store, cli.keyring, tenant.id);
    await cli.store.withTenant(tenant.id, (tx) =>
      appendAudit(tx, { actor: CLI, action: 'data_key.reencrypt', target: { kind: 'data_key', id: String(version) }, outcome: 'success', after: moved.reencrypted }),
    );
    for (const [table, n] of Object.entries(moved.reencrypted)) out += `  ${table}: ${n} re-encrypted\n`;
    return { exitCode: 0, out, err: '' };
  });
}

export function runShredDue(env: NodeJS.ProcessEnv = process.env): Promise<CommandReport> {
  return withCli('keys shred-due', env, async (cli) => {
    const { shredded } = await shredDueTenants(cli.store, { keyrings: [cli.keyring] });
    if (shredded.length === 0) return { exitCode: 0, out: 'no deleted tenant is past its grace period\n', err: '' };
    const lines = shredded.map((s) => `tenant ${s.tenantId}: ${s.keysDestroyed} data keys destroyed; its encrypted data is unreadable\n`);
    return { exitCode: 0, out: `${lines.join('')}\`gatehouse tenants purge-due\` deletes their remaining rows (the gateway does it hourly)\n`, err: '' };
  });
}
