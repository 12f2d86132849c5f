/**
 * The `gatehouse` command. `start` runs the gateway until SIGTERM/SIGINT, then drains in-flight
 * requests (up to server.shutdownGraceMs) and exits 0.
 */
import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { startGateway, type RunningGateway } from '../app.js';
import { loadConfig } from '../config/load.js';
import { formatApply, runApply } from './apply.js';
import { auditExportHead, auditPublicKey, auditVerify } from './audit.js';
import { billingClosePeriod } from './billing.js';
import { runExport } from './export.js';
import { limitHeapGrowth } from './heap.js';
import { runRotateDataKey, runRotateMaster, runShredDue, type CommandReport } from './keys.js';
import { runPurgeDue } from './tenants.js';
import { runMaintenance, runMigrate } from './maintenance.js';

function report(r: CommandReport): void {
  process.stdout.write(r.out);
  process.stderr.write(r.err);
  process.exitCode = r.exitCode;
}

function printDemoKey(key: string, url: string): void {
  // Written to stdout directly, not to the log: the key is shown once, to the operator, and
  // must never be stored in log files that outlive this terminal.
  process.stdout.write(
    [
      '',
      '  Gatehouse demo tenant "demo" is ready. Its API key (shown once, stored hashed):',
      '',
      `    ${key}`,
      '',
      `  Try:  curl ${url}/v1/chat/completions -H "Authorization: Bearer ${key}" \\`,
      `          -H "Content-Type: application/json" -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'`,
      '',
    ].join('\n') + '\n',
  );
}

/**
 * Runs the gateway. The signal handlers are in place before the start: a SIGTERM/SIGINT while it
 * starts (the first start creates the embedded database in a child process for seconds) stops it
 * cleanly: the creation is killed and waited for, what was opened is closed, and the process exits
 * 0 with a line saying so. Before, the signal's default action killed the gateway (exit 143) and
 * left the creating child running on its own. A second signal exits at once (1).
 */
async function start(): Promise<void> {
  limitHeapGrowth();
  const starting = new AbortController();
  let gateway: RunningGateway | undefined;
  let stopping: NodeJS.Signals | undefined;
  const shutDown = (running: RunningGateway) => {
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`gatehouse: shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  const stop = (signal: NodeJS.Signals) => {
    if (stopping !== undefined) {
      process.stderr.write(`gatehouse: second ${signal}, exiting now\n`);
      process.exit(1);
    }
    stopping = signal;
    if (gateway === undefined) starting.abort(new Error(`${signal} during start-up`));
    else shutDown(gateway);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  try {
    const config = await loadConfig();
    gateway = await startGateway(config, { signal: starting.signal });
  } catch (err) {
    if (stopping === undefined) throw err;
    const interrupted = err === starting.signal.reason;
    process.stderr.write(
      `gatehouse: ${stopping} during start-up: stopped before serving` +
        (interrupted ? '\n' : ` (the start had failed: ${err instanceof Error ? err.message : String(err)})\n`),
    );
    process.exit(interrupted ? 0 : 1);
  }
  if (gateway.demoKey !== undefined) printDemoKey(gateway.demoKey, gateway.url);
  // Stopped after the start's last step that could end it early: it stops as from running.
  if (stopping !== undefined) shutDown(gateway);
}

async function checkConfig(): Promise<void> {
  const config = await loadConfig();
  process.stdout.write(
    `configuration OK${config.source ? ` (${config.source})` : ' (defaults)'}: ` +
      `${config.deployments.length} deployments, ${config.tenants.length} tenants\n`,
  );
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('gatehouse')
    .description('Multi-tenant AI API gateway. Configure with GATEHOUSE_CONFIG=<file.yaml> and GATEHOUSE_* variables.')
    .version('0.1.0');
  program.command('start').description('start the gateway (embedded store unless DATABASE_URL is set)').action(start);
  program.command('check-config').description('validate the configuration and exit').action(checkConfig);
  const monthsAhead = (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new Error(`--months-ahead must be an integer, got "${v}"`);
    return n;
  };
  program
    .command('migrate')
    .description("apply the schema migrations and make the coming months' usage partitions (run with the schema owner's DATABASE_URL)")
    .option('--months-ahead <n>', 'months of usage partitions made ahead (default metering.partitionMonthsAhead)', monthsAhead)
    .action(async (o: { monthsAhead?: number }) => report(await runMigrate(o.monthsAhead === undefined ? {} : { monthsAhead: o.monthsAhead })));
  program
    .command('maintenance')
    .description("usage upkeep as the schema owner: partitions ahead, raw events past retention deleted, expired partitions dropped (run daily from cron)")
    .option('--months-ahead <n>', 'months of usage partitions made ahead (default metering.partitionMonthsAhead)', monthsAhead)
    .action(async (o: { monthsAhead?: number }) => report(await runMaintenance(o.monthsAhead === undefined ? {} : { monthsAhead: o.monthsAhead })));
  program
    .command('apply')
    .description('make tenants, teams, domains, policies and keys match a tenants file (new key secrets are printed once)')
    .requiredOption('-f, --file <tenants.yaml>', 'the tenants file')
    .option('--dry-run', 'show the changes without making them')
    .option('--prune', 'also remove undeclared domains and policies and revoke undeclared keys')
    .action(async (o: { file: string; dryRun?: boolean; prune?: boolean }) => {
      const dryRun = o.dryRun === true;
      process.stdout.write(formatApply(await runApply({ file: o.file, dryRun, prune: o.prune === true }), dryRun));
    });
  program
    .command('export')
    .description('write tenants, teams, domains, policies and key metadata (never secrets) as a tenants file')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .option('--tenant <slug>', 'only this tenant')
    .action(async (o: { output?: string; tenant?: string }) => {
      const text = await runExport({ tenant: o.tenant });
      if (o.output === undefined) process.stdout.write(text);
      else await writeFile(o.output, text, { mode: 0o600 });
    });
  const audit = program.command('audit').description('audit log tools');
  audit
    .command('verify')
    .description(
      "check a tenant's hash-chained audit log (exit 1 naming the first broken entry); with --heads, also against signed heads " +
        'kept outside the database (exit 1 on a cut tail, a rewritten chain or a forged head)',
    )
    .option('--tenant <slug|id|platform>', 'the tenant (required without --heads; with it, only that chain)')
    .option('--heads <file>', 'signed heads (JSON lines from export-head or audit.headExport) to check against')
    .option('--public-key <file...>', 'also trust these head signing keys (PEM from `audit public-key`)')
    .action(async (o: { tenant?: string; heads?: string; publicKey?: string[] }) => {
      process.exitCode = await auditVerify({ tenant: o.tenant, heads: o.heads, publicKeys: o.publicKey ?? [] });
    });
  audit
    .command('export-head')
    .description('append the signed head of one chain (--tenant) or of every chain (--all) to a file kept outside the database')
    .option('--tenant <slug|id|platform>', 'one chain')
    .option('--all', "every tenant's chain and the platform scope's")
    .requiredOption('--out <file>', 'the heads file (appended to, never truncated)')
    .action(async (o: { tenant?: string; all?: boolean; out: string }) => {
      process.exitCode = await auditExportHead(o);
    });
  audit
    .command('public-key')
    .description('print the Ed25519 public key (PEM) that verifies exported audit heads; derived from GATEHOUSE_MASTER_KEY')
    .action(async () => {
      process.stdout.write(await auditPublicKey());
    });
  const keys = program.command('keys').description('master key and tenant data key management');
  keys
    .command('rotate-master')
    .description(
      're-wrap every tenant data key under GATEHOUSE_MASTER_KEY (the new master key), unwrapping with GATEHOUSE_MASTER_KEY_PREVIOUS (the old ones)',
    )
    .action(async () => report(await runRotateMaster()));
  keys
    .command('rotate-data-key')
    .description("give a tenant a new data key and re-encrypt its secrets onto it")
    .requiredOption('--tenant <slug|id>', 'the tenant')
    .option('--no-reencrypt', 'leave existing ciphertexts under their keys (they keep decrypting)')
    .action(async (o: { tenant: string; reencrypt: boolean }) => report(await runRotateDataKey(o.tenant, { reencrypt: o.reencrypt })));
  keys
    .command('shred-due')
    .description('destroy the data keys of deleted tenants whose grace period has passed (crypto-shredding)')
    .action(async () => report(await runShredDue()));
  program
    .command('tenants')
    .description('tenant lifecycle')
    .command('purge-due')
    .description("delete the remaining rows of deleted tenants whose data keys are shredded (audit trail, invoices and the tenant record are kept)")
    .option('--include-unbilled', 'also purge tenants with usage no issued invoice covers yet')
    .action(async (o: { includeUnbilled?: boolean }) => report(await runPurgeDue({ includeUnbilled: o.includeUnbilled === true })));
  program
    .command('billing')
    .description('billing tools')
    .command('close-period')
    .description("issue the invoices of every tenant whose billing period (a calendar month in its time zone) has ended")
    .option('--period <YYYY-MM>', "the month to close (default: each tenant's last ended month)")
    .action(async (o: { period?: string }) => {
      process.exitCode = await billingClosePeriod(o.period);
    });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.stderr.write(`gatehouse: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
