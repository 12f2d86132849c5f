/** TXT lookups for proofs of domain ownership, through the configured DNS servers or the system's. */
import { Resolver } from 'node:dns/promises';

export function txtResolver(servers: readonly string[]): (name: string) => Promise<string[][]> {
  const resolver = new Resolver({ timeout: 5000, tries: 2 });
  if (servers.length > 0) resolver.setServers([...servers]);
  return (name) => resolver.resolveTxt(name);
}
