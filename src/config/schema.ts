/**
 * The configuration file's schema: the single source of truth for what a YAML file (and the
 * environment overrides applied on top of it) may say. Validated once at start-up; the rest of
 * the code trusts the parsed type.
 */
import { z } from 'zod';
import { cidrProblem } from '../admin/schemas/net.js';
import { tenantCacheSchema } from '../cache/settings.js';
import { tenantLogsSchema } from '../logs/settings.js';
import { planRulesSchema } from '../limits/rules-schema.js';
import { AWS_REGION } from '../providers/bedrock/region.js';
import { SCOPES } from '../tenancy/types.js';

const slug = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'a slug: lower-case letters, digits and dashes, 1-63 characters')
  .describe('a slug (lower-case letters, digits and dashes, 1-63 characters)');

const cidrBlock = z
  .string()
  .refine((c) => cidrProblem(c) === undefined, { error: (issue) => `expected a CIDR block (${cidrProblem(String(issue.input)) ?? 'invalid'})` })
  .describe('a CIDR block (e.g. 10.0.0.0/8 or 2001:db8::/32; a single address is /32 or /128)');

/** A secret given inline (bootstrapping only), or by reference to an env variable or file. */
export const secretRef = z
  .union([
    z.string().min(1),
    z.object({ env: z.string().min(1) }).strict(),
    z.object({ file: z.string().min(1) }).strict(),
  ])
  // Descriptions feed the loader's error messages ("expected <description>").
  .describe('a non-empty string, {env: NAME} or {file: path}');
export type SecretRef = z.infer<typeof secretRef>;

const mockBehaviour = z
  .object({
    latencyMs: z.number().int().min(0).max(600_000).default(0),
    tokensPerSecond: z.number().min(0).default(0),
    errorRate: z.number().min(0).max(1).default(0),
    errorStatus: z.number().int().min(400).max(599).default(500),
  })
  .strict();

const awsRegion = z
  .string()
  .regex(AWS_REGION, 'an AWS region name such as us-east-1')
  .describe('an AWS region name (e.g. us-east-1)');

/** Kind 'bedrock': requests are SigV4-signed with these (by reference, like apiKey). */
const awsCredentials = z
  .object({
    accessKeyId: secretRef,
    secretAccessKey: secretRef,
    sessionToken: secretRef.optional(),
    /** Default AWS region of this provider's deployments (a deployment's awsRegion wins). */
    region: awsRegion.optional(),
  })
  .strict();

const provider = z
  .object({
    name: slug,
    kind: z.enum(['openai', 'azure', 'openai-compatible', 'mock', 'bedrock', 'gemini', 'anthropic']),
    baseUrl: z.url({ protocol: /^https?$/ }).optional(),
    apiKey: secretRef.optional(),
    apiVersion: z.string().min(1).optional(),
    aws: awsCredentials.optional(),
    timeoutMs: z.number().int().min(100).max(3_600_000).default(600_000),
    mock: mockBehaviour.optional(),
  })
  .strict();

/** Prices in currency units (e.g. USD) per million tokens / per request. */
const prices = z
  .object({
    input: z.number().min(0).default(0),
    output: z.number().min(0).default(0),
    cachedInput: z.number().min(0).default(0),
    request: z.number().min(0).default(0),
  })
  .strict();

const deployment = z
  .object({
    id: slug.optional(),
    model: z.string().min(1).max(256),
    provider: slug,
    upstreamModel: z.string().min(1).max(256).optional(),
    kind: z.enum(['chat', 'completion', 'embedding']).default('chat'),
    version: z.string().min(1).max(128).optional(),
    region: z.string().min(1).max(64).default('default'),
    /**
     * Bedrock: the AWS region to call when it differs from the data-residency label in
     * `region` (e.g. region "eu", awsRegion "eu-central-1").
     */
    awsRegion: awsRegion.optional(),
    capacity: z.number().int().min(1).max(1_000_000).default(256),
    prices: prices.default({ input: 0, output: 0, cachedInput: 0, request: 0 }),
    /** Compute units per unit of work (model-weighted limits): an expensive model weighs more. */
    weight: z.number().gt(0).max(1_000_000).default(1),
    /**
     * Shared limits backend (Redis) unreachable: 'closed' answers 503, 'open' falls back to
     * per-instance limits. Closed by default: budgets must never overshoot (DESIGN §4).
     */
    limitsFailMode: z.enum(['open', 'closed']).default('closed'),
    /** Share of the model's traffic under the `weighted` routing strategy (default 1); not `weight`. */
    routingWeight: z.number().int().min(1).max(1_000_000).optional(),
    /** One attempt on this deployment until response headers; overrides routing's per-model value. */
    attemptTimeoutMs: z.number().int().min(1).max(3_600_000).optional(),
    /**
     * A streamed response that sends nothing for this long (after its headers) is ended with an
     * error event and its upstream call cancelled; never retried. Default: the provider's timeoutMs.
     */
    streamIdleTimeoutMs: z.number().int().min(100).max(3_600_000).optional(),
  })
  .strict();

/** Per-model routing settings; every field optional, laid over `routing`'s own. */
const modelRouting = z
  .object({
    strategy: z.enum(['weighted', 'least-busy', 'lowest-latency']),
    /** Upstream attempts per request, the first included (1 = no retry and no fallback). */
    maxAttempts: z.number().int().min(1).max(10),
    baseBackoffMs: z.number().int().min(0).max(60_000),
    maxBackoffMs: z.number().int().min(0).max(300_000),
    maxRetryAfterMs: z.number().int().min(0).max(300_000),
    /** One attempt until the upstream's response headers; 0 = the provider's timeoutMs only. */
    attemptTimeoutMs: z.number().int().min(0).max(3_600_000),
    /** All attempts and backoffs until response headers; 0 = the request deadline only. */
    totalTimeoutMs: z.number().int().min(0).max(3_600_000),
    /** Upstream refusals that move the request on to its fallback models. */
    fallbackOn: z.array(z.enum(['context_window', 'content_policy'])).max(2),
  })
  .partial()
  .strict();

const breaker = z
  .object({
    consecutiveFailures: z.number().int().min(1).max(1000).default(5),
    failureRate: z.number().gt(0).max(1).default(0.5),
    minRequests: z.number().int().min(1).max(100_000).default(20),
    windowMs: z.number().int().min(100).max(3_600_000).default(30_000),
    openMs: z.number().int().min(10).max(3_600_000).default(5_000),
    maxOpenMs: z.number().int().min(10).max(3_600_000).default(60_000),
  })
  .strict();

/** Load balancing, retries, timeouts, fallbacks and circuit breakers (DESIGN §6; src/routing/). */
const routing = z
  .object({
    strategy: z.enum(['weighted', 'least-busy', 'lowest-latency']).default('weighted'),
    maxAttempts: z.number().int().min(1).max(10).default(3),
    baseBackoffMs: z.number().int().min(0).max(60_000).default(100),
    maxBackoffMs: z.number().int().min(0).max(300_000).default(2_000),
    maxRetryAfterMs: z.number().int().min(0).max(300_000).default(5_000),
    attemptTimeoutMs: z.number().int().min(0).max(3_600_000).default(0),
    totalTimeoutMs: z.number().int().min(0).max(3_600_000).default(0),
    fallbackOn: z.array(z.enum(['context_window', 'content_policy'])).max(2).default([]),
    /** Per public model name. */
    models: z.record(z.string().min(1).max(256), modelRouting).default({}),
    /** Public model name → fallback models in order, e.g. { gpt-4o: [gpt-4o-mini, claude-3-5-sonnet] }. */
    fallbacks: z.record(z.string().min(1).max(256), z.array(z.string().min(1).max(256)).max(10)).default({}),
    breaker: breaker.prefault({}),
  })
  .strict();

const apiKey = z
  .object({
    name: z.string().min(1).max(128),
    value: secretRef,
    team: slug.optional(),
    scopes: z.array(z.enum(SCOPES)).min(1).default(['inference', 'models:read']),
    models: z.array(z.string().min(1)).optional(),
    // Not z.coerce.date(): it turns `null` into 1970 (a key that is silently always expired) and
    // accepts any number as an epoch. Only unambiguous ISO 8601 text is accepted.
    expiresAt: z
      .union([z.iso.datetime({ offset: true }), z.iso.date()])
      .describe('an ISO 8601 date (2026-01-31) or date-time with offset (2026-01-31T12:00:00Z)')
      .transform((s) => new Date(s))
      .optional(),
  })
  .strict();

const team = z.object({ slug, name: z.string().min(1).max(256).optional() }).strict();

const hostname = z
  .string()
  .regex(/^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'a lower-case host name without port')
  .describe('a lower-case host name without port');

/** A public JWK: private members (d, p, q, dp, dq, qi, k) would put signing secrets in the file. */
export const publicJwk = z
  .record(z.string(), z.unknown())
  .refine((k) => typeof k.kty === 'string', 'a JWK with "kty"')
  .refine((k) => !['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((m) => m in k), 'a public key (no private or symmetric key members)');

const jwtIssuer = z
  .object({
    issuer: z.string().min(1).max(2048).describe('the exact "iss" of tokens'),
    audience: z.string().min(1).max(2048).optional(),
    jwks: z.object({ keys: z.array(publicJwk).min(1) }).strict().optional(),
    jwksUrl: z.url({ protocol: /^https?$/ }).optional(),
    claims: z
      .object({ tenant: z.string().min(1), roles: z.string().min(1), team: z.string().min(1), user: z.string().min(1) })
      .partial()
      .strict()
      .optional(),
  })
  .strict()
  .refine((v) => (v.jwks === undefined) !== (v.jwksUrl === undefined), 'exactly one of "jwks" (inline keys) or "jwksUrl"');

const budgetAction = z.enum(['reject', 'clamp']);

const ianaTimeZone = z
  .string()
  .min(1)
  .max(64)
  .refine((tz) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'an IANA time zone such as Europe/Berlin')
  .describe('an IANA time zone such as Europe/Berlin');

/** A plan (tier): fair-share weight, budget action and limit rules, shared by the tenants on it. */
const plan = z
  .object({
    name: slug,
    description: z.string().max(1024).optional(),
    weight: z.number().int().min(1).max(1_000_000).default(1),
    budgetAction: budgetAction.default('reject'),
    rules: planRulesSchema,
  })
  .strict();

const tenant = z
  .object({
    slug: slug.refine((v) => !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(v), 'a slug that is not shaped like a tenant id (UUID)'),
    name: z.string().min(1).max(256).optional(),
    status: z.enum(['active', 'suspended']).default('active'),
    domains: z.array(hostname).default([]),
    models: z
      .union([z.literal('*'), z.array(z.string().min(1))])
      .describe('"*" or a list of model names')
      .default('*'),
    regions: z.array(z.string().min(1)).default([]),
    teams: z.array(team).default([]),
    keys: z.array(apiKey).default([]),
    /** Identity providers trusted for bearer JWTs; when present, replaces the stored list. */
    jwt: z.array(jwtIssuer).optional(),
    /** Plan name; null: no plan; absent: leave the stored plan. */
    plan: slug.nullable().optional(),
    /** For daily and monthly windows; absent: leave the stored zone (UTC for a new tenant). */
    timeZone: ianaTimeZone.optional(),
    /** null: the plan's; absent: leave the stored one. */
    budgetAction: budgetAction.nullable().optional(),
    /** The tenant's own rules (overriding the plan's of the same id); when present, replaces the stored list. */
    limits: planRulesSchema.optional(),
    /** Model aliases (alias → model) of this tenant; when present, replaces the stored set. */
    aliases: z
      .record(z.string().min(1).max(256), z.string().min(1).max(256))
      .refine((a) => Object.keys(a).length <= 1000, 'at most 1000 aliases')
      .refine((a) => Object.entries(a).every(([k, v]) => k !== v), 'an alias must not name itself')
      .optional(),
    /** Response cache opt-in (src/cache/); absent: leave the stored setting (off for a new tenant). */
    cache: tenantCacheSchema.optional(),
    /** Request log opt-in (src/logs/); absent: leave the stored setting (off for a new tenant). */
    logs: tenantLogsSchema.optional(),
  })
  .strict();

export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().min(1).default('0.0.0.0'),
        port: z.number().int().min(0).max(65535).default(8080),
        maxBodyBytes: z.number().int().min(1024).max(512 * 1024 * 1024).default(4 * 1024 * 1024),
        maxHeaderBytes: z.number().int().min(1024).max(1024 * 1024).default(16 * 1024),
        /** Whole-request deadline, upstream included. */
        requestTimeoutMs: z.number().int().min(100).max(3_600_000).default(600_000),
        /** How long in-flight requests may run after SIGTERM before the process exits. */
        shutdownGraceMs: z.number().int().min(0).max(3_600_000).default(15_000),
        /**
         * Peers (load balancers, reverse proxies) whose forwarding header names the client.
         * Empty: the client is always the connecting peer.
         */
        trustedProxies: z.array(cidrBlock).max(256).default([]),
        /** The header those proxies set: X-Forwarded-For, or RFC 7239 Forwarded (for=). */
        forwardedHeader: z.enum(['x-forwarded-for', 'forwarded']).default('x-forwarded-for'),
      })
      .strict()
      .default({
        host: '0.0.0.0',
        port: 8080,
        maxBodyBytes: 4 * 1024 * 1024,
        maxHeaderBytes: 16 * 1024,
        requestTimeoutMs: 600_000,
        shutdownGraceMs: 15_000,
        trustedProxies: [],
        forwardedHeader: 'x-forwarded-for',
      }),
    dataDir: z.string().min(1).default('./.gatehouse'),
    databaseUrl: z.string().min(1).optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Create the demo tenant, its key and the built-in mock deployments. */
    demo: z
      .object({ enabled: z.boolean().default(true), key: secretRef.optional() })
      .strict()
      .default({ enabled: true }),
    /** The admin API's platform sign-in: the operator's identity provider for platform roles. */
    admin: z
      .object({
        /**
         * Bearer JWTs from this issuer are platform principals; the roles claim must carry
         * platform_admin or platform_auditor. Tenant staff sign in with their tenant's issuers.
         */
        jwt: jwtIssuer.optional(),
      })
      .strict()
      .optional(),
    /** Proofs of custom-domain ownership (DNS TXT records) added through the admin API. */
    domainVerification: z
      .object({
        /** DNS servers to ask (`ip` or `ip:port`); empty: the system's resolvers. */
        resolvers: z
          .array(z.string().regex(/^(?:\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?|\[[0-9a-fA-F:]+\](?::\d{1,5})?|[0-9a-fA-F:]+)$/, 'an IP address, optionally with :port'))
          .max(8)
          .default([]),
      })
      .strict()
      .default({ resolvers: [] }),
    /** Fair scheduling of each deployment's capacity (DESIGN §4). */
    scheduling: z
      .object({
        /** A request waiting longer than this for a slot gets 429. */
        queueTimeoutMs: z.number().int().min(1).max(3_600_000).default(30_000),
        /** Requests one tenant may have waiting per deployment; more get 429 (0: none wait). */
        maxQueueDepth: z.number().int().min(0).max(1_000_000).default(1000),
        /** A tenant keeps its share reserved this long after its last request. */
        reserveIdleMs: z.number().int().min(0).max(3_600_000).default(1000),
        /** Lower a deployment's concurrency on upstream 429/503 or slowdowns, recover gradually. */
        adaptive: z.boolean().default(true),
      })
      .strict()
      .default({ queueTimeoutMs: 30_000, maxQueueDepth: 1000, reserveIdleMs: 1000, adaptive: true }),
    routing: routing.prefault({}),
    providers: z.array(provider).default([]),
    deployments: z.array(deployment).default([]),
    /** Plans declared as code; created or updated at start, never deleted (the admin API may add more). */
    plans: z.array(plan).default([]),
    tenants: z.array(tenant).default([]),
    /** Admission (DESIGN §4): where counters live and how requests are bounded. */
    limits: z
      .object({
        /** Shared counters for several replicas; absent = in-process counters (one instance). */
        redisUrl: z.url({ protocol: /^rediss?$/ }).optional(),
        /**
         * A Redis call slower than this counts as Redis being down (fail mode applies). Measured on
         * this process's event loop, so under a burst it includes the loop's own lag: too tight a
         * value turns load into false outages.
         */
        redisTimeoutMs: z.number().int().min(10).max(60_000).default(1000),
        /**
         * Fleet size hint. Replicas find each other through Redis (a membership heartbeat); while
         * Redis is down, a deployment that fails open enforces 1 ÷ (live replicas, as last read) of
         * every limit on each replica, so together they stay near the limit. This number stands in
         * for the live count only in a replica that has not read the membership yet (it started
         * while Redis was down): for its local limits and its split of deployment capacities.
         */
        replicas: z.number().int().min(1).max(10_000).default(1),
        /** Output tokens reserved (and sent upstream as max_tokens) when a request sets none. */
        defaultMaxOutputTokens: z.number().int().min(1).max(10_000_000).default(4096),
        /**
         * With Redis: lease of a reservation (concurrency slot, pending day/month amount), renewed
         * every third of it while the request lives. A killed replica's slots come back within it.
         */
        leaseMs: z.number().int().min(1000).max(3_600_000).default(30_000),
      })
      .strict()
      .default({ defaultMaxOutputTokens: 4096, redisTimeoutMs: 1000, replicas: 1, leaseMs: 30_000 }),
    /** Security rules not tied to one feature. */
    security: z
      .object({
        /**
         * Addresses a TENANT sets (dedicated deployment and provider credential base URLs,
         * webhooks) are refused when they point at loopback, private, link-local, CGNAT,
         * unspecified or multicast addresses or local names (src/routing/ssrf.ts), at save and
         * at connect. These are the operator's exceptions. Deployments in this file are trusted.
         */
        outbound: z
          .object({
            allowPrivate: z.boolean().default(false),
            allowHosts: z.array(z.string().min(1).max(253).toLowerCase()).max(256).default([]),
            allowCidrs: z.array(cidrBlock).max(256).default([]),
          })
          .strict()
          .default({ allowPrivate: false, allowHosts: [], allowCidrs: [] }),
      })
      .strict()
      .default({ outbound: { allowPrivate: false, allowHosts: [], allowCidrs: [] } }),
    /** The per-tenant response cache (src/cache/); tenants opt in with `tenants[].cache`. */
    cache: z
      .object({
        /** Shared entries for several replicas; absent: limits.redisUrl if set, else in-process memory. */
        redisUrl: z.url({ protocol: /^rediss?$/ }).optional(),
        /** A cache call slower than this is a miss. */
        redisTimeoutMs: z.number().int().min(10).max(60_000).default(200),
        /** In-process store: all tenants together. */
        maxBytes: z.number().int().min(0).max(2 ** 40).default(256 * 1024 * 1024),
        /** One tenant's entries at most (in memory: its least recently used give way; in Redis: a cap on its cache_bytes quota). */
        maxTenantBytes: z.number().int().min(0).max(2 ** 40).default(64 * 1024 * 1024),
        /** Bigger answers are not stored (the copy stops at this size, the client still gets all). */
        maxEntryBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
      })
      .strict()
      .default({ redisTimeoutMs: 200, maxBytes: 256 * 1024 * 1024, maxTenantBytes: 64 * 1024 * 1024, maxEntryBytes: 1024 * 1024 }),
    /** Prometheus /metrics. */
    metrics: z
      .object({
        /**
         * Tenant-labelled series: the `top` tenants by recent traffic keep their slug as the
         * `tenant` label, every other tenant is aggregated as "other"; the set is recomputed
         * every `recomputeSeconds` (src/observability/tenant-labels.ts).
         */
        tenantLabels: z
          .object({
            top: z.number().int().min(0).max(1000).default(20),
            recomputeSeconds: z.number().int().min(5).max(86_400).default(60),
          })
          .strict()
          .default({ top: 20, recomputeSeconds: 60 }),
      })
      .strict()
      .default({ tenantLabels: { top: 20, recomputeSeconds: 60 } }),
    /** Usage metering (DESIGN §5): the local spool and the shipper that drains it to the store. */
    metering: z
      .object({
        /** Spool directory; relative to dataDir. One gateway process per directory (locked). */
        spoolDir: z.string().min(1).default('spool'),
        /**
         * Group-commit interval of the spool's fsync, ms (0: never fsync periodically). Unset: 100
         * with ackMode 'write' (what a power loss can take; an fsync costs the gateway ~160 µs of CPU,
         * ~5 µs per request at 5 ms under load), 5 with ackMode 'fsync' (what each response waits).
         */
        fsyncIntervalMs: z.number().int().min(0).max(10_000).optional(),
        /** 'write': a request is done once its event reached the kernel (survives kill -9); 'fsync': once on disk. */
        ackMode: z.enum(['write', 'fsync']).default('write'),
        /** Past this the spool refuses new model requests with 503 metering_unavailable. */
        spoolMaxBytes: z.number().int().min(1024 * 1024).max(1024 ** 4).default(1024 ** 3),
        segmentBytes: z.number().int().min(64 * 1024).max(1024 ** 3).default(16 * 1024 * 1024),
        /** Events per shipped batch. */
        batchSize: z.number().int().min(1).max(50_000).default(5000),
        /**
         * After the first event following a quiet spell, the shipper waits this long for more before
         * shipping, ms: the lag of usage views at low traffic, and what bounds the per-batch cost
         * (a transaction, a statement plan, a checkpoint fsync) to one batch per interval.
         */
        shipLingerMs: z.number().int().min(0).max(60_000).default(500),
        /** Tenant transactions of one batch in parallel. */
        shipConcurrency: z.number().int().min(1).max(64).default(4),
        /** Raw-event retention for tenants without a usageRetentionDays setting. */
        retentionDays: z.number().int().min(1).max(36_500).default(90),
        /** Longest raw-event retention any tenant may set; older monthly partitions are dropped. */
        maxRetentionDays: z.number().int().min(1).max(36_500).default(400),
        /** Monthly partitions of the raw events made ahead of the current month (by the owner: the gateway or `gatehouse maintenance`). */
        partitionMonthsAhead: z.number().int().min(1).max(24).default(2),
      })
      .strict()
      .refine((m) => m.retentionDays <= m.maxRetentionDays, { message: 'retentionDays must not exceed maxRetentionDays' })
      .default({
        spoolDir: 'spool',
        ackMode: 'write',
        spoolMaxBytes: 1024 ** 3,
        segmentBytes: 16 * 1024 * 1024,
        batchSize: 5000,
        shipLingerMs: 500,
        shipConcurrency: 4,
        retentionDays: 90,
        maxRetentionDays: 400,
        partitionMonthsAhead: 2,
      }),
    /** Deleted tenants (README "Commands": deleting a tenant). */
    tenantDeletion: z
      .object({
        /**
         * After shredding, the hourly job purges a deleted tenant's rows, but waits while it has
         * usage no issued invoice covers (its last month, until `billing close-period` issues it).
         * true: purge anyway (you do not bill with Gatehouse).
         */
        purgeUnbilledUsage: z.boolean().default(false),
      })
      .strict()
      .default({ purgeUnbilledUsage: false }),
    /** The audit log (README "Audit log"). */
    audit: z
      .object({
        /**
         * Append each chain's signed head to `dir/audit-heads.jsonl` every `intervalSeconds` (only
         * heads that moved), so a cut tail or a rewritten chain shows against a copy the database
         * owner cannot reach. `dir` is relative to dataDir; point it at another volume. Off when absent.
         */
        headExport: z
          .object({
            dir: z.string().min(1),
            intervalSeconds: z.number().int().min(10).max(86_400).default(300),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({}),
    /**
     * Stored request logs (src/logs/, README "Request logs"); tenants opt in with `tenants[].logs`.
     * Entries are queued in memory and written in batches off the request path (best-effort).
     */
    requestLogs: z
      .object({
        /** Content text kept per entry (request and response together); the rest is cut and flagged. */
        maxEntryBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
        /** Response bytes copied while they pass to the client (SSE frames of a stream included). */
        maxCaptureBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(256 * 1024),
        /** Entries waiting for the writer at most; beyond it (or maxQueuedBytes) entries are dropped and counted. */
        maxQueued: z.number().int().min(1).max(1_000_000).default(10_000),
        /** Bytes waiting entries may hold on to (request bodies, captured responses). */
        maxQueuedBytes: z.number().int().min(1024 * 1024).max(2 ** 36).default(64 * 1024 * 1024),
        /** Entries per tenant transaction. */
        batchSize: z.number().int().min(1).max(10_000).default(200),
        /** How often the writer drains the queue, ms. */
        flushIntervalMs: z.number().int().min(10).max(60_000).default(1000),
        /** How often entries past each tenant's retention are deleted, ms. */
        retentionIntervalMs: z.number().int().min(1000).max(86_400_000).default(3_600_000),
      })
      .strict()
      .default({
        maxEntryBytes: 64 * 1024,
        maxCaptureBytes: 256 * 1024,
        maxQueued: 10_000,
        maxQueuedBytes: 64 * 1024 * 1024,
        batchSize: 200,
        flushIntervalMs: 1000,
        retentionIntervalMs: 3_600_000,
      }),
    /** Budget alerts, forecasts and anomalies, delivered as signed webhooks (README "Alerts and webhooks"). */
    alerts: z
      .object({
        enabled: z.boolean().default(true),
        /** How often each tenant's budgets, forecasts and anomalies are evaluated, ms. */
        evaluateIntervalMs: z.number().int().min(1000).max(3_600_000).default(60_000),
        /** How often the outbox is polled for due deliveries, ms. */
        deliveryIntervalMs: z.number().int().min(10).max(600_000).default(5000),
        /** Per HTTP attempt, ms. */
        deliveryTimeoutMs: z.number().int().min(100).max(60_000).default(10_000),
        /** Attempts per delivery (the first included); retries back off exponentially from retryBaseMs, with jitter. */
        maxAttempts: z.number().int().min(1).max(20).default(8),
        retryBaseMs: z.number().int().min(1).max(3_600_000).default(30_000),
        retryMaxMs: z.number().int().min(1).max(86_400_000).default(1_200_000),
        /** Anomaly: z-score over the EWMA of the tenant's hourly pattern. */
        anomalyZ: z.number().min(1).max(100).default(4),
        /** Anomaly: least excess over the expected hour, in currency units and in requests. */
        anomalyMinCost: z.number().min(0).max(1_000_000).default(1),
        anomalyMinRequests: z.number().int().min(0).max(100_000_000).default(100),
        /** Days resolved alerts and finished webhook deliveries are kept (a tenant's alert settings may override it). */
        retentionDays: z.number().int().min(1).max(3650).default(90),
      })
      .strict()
      .default({
        enabled: true,
        evaluateIntervalMs: 60_000,
        deliveryIntervalMs: 5000,
        deliveryTimeoutMs: 10_000,
        maxAttempts: 8,
        retryBaseMs: 30_000,
        retryMaxMs: 1_200_000,
        anomalyZ: 4,
        anomalyMinCost: 1,
        anomalyMinRequests: 100,
        retentionDays: 90,
      }),
    /** Price versions and closing billing periods (README "Usage, invoices and chargeback"). */
    billing: z
      .object({
        /** How often the price book is re-read for versions added by other replicas, seconds (0: only at start and on this replica's changes). */
        priceRefreshSeconds: z.number().int().min(0).max(86_400).default(30),
        /**
         * Issues every tenant's invoice for the month that ended in its time zone, `graceMinutes`
         * after its end (for events still in spools), checking every `intervalMinutes`. Safe on any
         * number of replicas: one invoice per tenant and month (unique), audited once.
         */
        autoClose: z
          .object({
            enabled: z.boolean().default(true),
            intervalMinutes: z.number().int().min(1).max(1440).default(15),
            graceMinutes: z.number().int().min(0).max(10_080).default(60),
          })
          .strict()
          .default({ enabled: true, intervalMinutes: 15, graceMinutes: 60 }),
      })
      .strict()
      .default({ priceRefreshSeconds: 30, autoClose: { enabled: true, intervalMinutes: 15, graceMinutes: 60 } }),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ProviderConfig = z.infer<typeof provider>;
export type AwsCredentialsConfig = z.infer<typeof awsCredentials>;
export type DeploymentConfig = z.infer<typeof deployment>;
export type TenantConfig = z.infer<typeof tenant>;
export type ApiKeyConfig = z.infer<typeof apiKey>;
export type JwtIssuerConfig = z.infer<typeof jwtIssuer>;
export type PlanConfig = z.infer<typeof plan>;
export type RoutingSettings = z.infer<typeof routing>;
