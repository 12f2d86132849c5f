/**
 * `gatehouse audit ...`: verify a chain (alone, or against signed heads kept outside the
 * database), export signed heads, print the public key that verifies them.
 */
import { readFile } from 'node:fs/promises';
import { appendDurably, runAuditExportHeads, runAuditVerify, runAuditVerifyHeads } from '../audit/index.js';
import { loadConfig } from '../config/load.js';
import { auditHeadSigner, auditHeadVerifier, parseAuditHeadPublicKey } from '../crypto/audit-head-key.js';
import { loadMasterKey } from '../crypto/master-key.js';
import { CliError, openCliStore } from './cli-store.js';

export interface AuditVerifyOptions {
  /** A slug, an id, or `platform`; required without `heads`. */
  tenant?: string;
  /** A file of signed heads (JSON lines) to check the chains against. */
  heads?: string;
  /** Extra trusted public key files (PEM), e.g. the key of a master key rotated out long ago. */
  publicKeys?: readonly string[];
}

/** Prints the report and returns the exit code: 0 intact, 1 broken, cut, rewritten or forged, 2 no such tenant. */
export async function auditVerify(opts: AuditVerifyOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const tenant = opts.tenant;
  if (opts.heads === undefined && tenant === undefined) throw new CliError('audit verify: give --tenant, or --heads FILE (with or without --tenant)');
  const headsText = opts.heads === undefined ? undefined : await readFile(opts.heads, 'utf8');
  const extraKeys = await Promise.all((opts.publicKeys ?? []).map(async (f) => parseAuditHeadPublicKey(await readFile(f, 'utf8'), `the key file ${f}`)));
  const config = await loadConfig({ env });
  const cli = await openCliStore(config, env, 'audit verify');
  try {
    const result =
      headsText !== undefined
        ? await runAuditVerifyHeads(cli.store, auditHeadVerifier(cli.headSigners, extraKeys), headsText, tenant === undefined ? {} : { tenantRef: tenant })
        : await runAuditVerify(cli.store, tenant ?? '');
    (result.exitCode === 0 ? process.stdout : process.stderr).write(result.report);
    return result.exitCode;
  } finally {
    await cli.close();
  }
}

/** Appends the signed heads to `out` (never truncates: a heads file is a history). */
export async function auditExportHead(opts: { tenant?: string; all?: boolean; out: string }, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if ((opts.tenant === undefined) === (opts.all !== true)) throw new CliError('audit export-head: give exactly one of --tenant and --all');
  const config = await loadConfig({ env });
  const cli = await openCliStore(config, env, 'audit export-head');
  try {
    const r = await runAuditExportHeads(cli.store, cli.headSigner, opts.tenant === undefined ? {} : { tenantRef: opts.tenant });
    if (r.exitCode !== 0) {
      process.stderr.write(r.report);
      return r.exitCode;
    }
    await appendDurably(opts.out, r.lines);
    process.stdout.write(`${r.report.trimEnd()} appended to ${opts.out}\n`);
    return 0;
  } finally {
    await cli.close();
  }
}

/** The public key that verifies exported heads; needs only the master key, not the store. */
export async function auditPublicKey(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const config = await loadConfig({ env });
  const master = await loadMasterKey({ env, dataDir: config.databaseUrl === undefined ? config.dataDir : undefined });
  const signer = auditHeadSigner(master);
  return `# audit head signing key ${signer.keyId}\n${signer.publicKeyPem}`;
}
