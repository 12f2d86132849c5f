/** `gatehouse audit verify --tenant <slug|id>`: checks a tenant's hash-chained audit log. */
import { runAuditVerify } from '../audit/index.js';
import { loadConfig } from '../config/load.js';
import { openCliStore } from './cli-store.js';

/** Prints the report and returns the exit code: 0 intact, 1 broken (names the first bad entry), 2 no such tenant. */
export async function auditVerify(tenantRef: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const config = await loadConfig({ env });
  const cli = await openCliStore(config, env, 'audit verify');
  try {
    const { exitCode, report } = await runAuditVerify(cli.store, tenantRef);
    (exitCode === 0 ? process.stdout : process.stderr).write(report);
    return exitCode;
  } finally {
    await cli.close();
  }
}
