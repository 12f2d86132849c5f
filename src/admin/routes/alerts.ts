/**
 * Tenant scope: alerts, their webhook deliveries, budget exhaustion forecasts and the tenant's
 * alert settings (src/billing/alerts). Read by tenant admins and billing; settings written by
 * tenant admins only.
 */
import { forecastRules } from '../../billing/alerts/usage.js';
import { tenantForecasts } from '../../billing/alerts/job.js';
import { DEFAULT_LOOKBACK_HOURS } from '../../billing/alerts/forecast.js';
import { effectiveSettings, type AlertSettings } from '../../billing/alerts/settings.js';
import { alertsRepo, anomalyThrottlesRepo, type TenantTx } from '../../store/index.js';
import { randomUUID } from 'node:crypto';
import { raiseAlert } from '../../billing/alerts/raise.js';
import { DEFAULT_ALERT_RETENTION_DAYS } from '../../billing/alerts/job.js';
import { audit, auditActor } from '../audit-hook.js';
import type { AdminEnv } from '../context.js';
import { decodeCursor, encodeCursor } from '../http/cursor.js';
import { notFound } from '../problems.js';
import { defineRoute, type AdminRoute } from '../route.js';
import {
  alertSettingsView,
  alertsQuery,
  alertView,
  deliveryView,
  forecastView,
  patchAlertSettingsBody,
  presentAlert,
  presentDelivery,
  presentForecasts,
  presentSettings,
} from '../schemas/alerts.js';
import { effectiveLimits } from '../services/limits.js';
import { read, write } from '../tx.js';
import { listOf, tenantOf } from './lists.js';

const TAG = 'Alerts';
const T = '/tenants/{tenant}';
const CURSOR_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\|[0-9a-f-]{36}$/;

async function loadSettings(tx: TenantTx) {
  return effectiveSettings(await alertsRepo.settings(tx));
}

/** The settings as they apply, with the gateway's default retention and the throttles in force. */
async function settingsView(env: AdminEnv, tx: TenantTx) {
  return presentSettings(await loadSettings(tx), env.alertRetentionDays ?? DEFAULT_ALERT_RETENTION_DAYS, await anomalyThrottlesRepo.list(tx));
}

export const alertRoutes: AdminRoute[] = [
  defineRoute({
    method: 'GET',
    path: `${T}/alerts`,
    operationId: 'listAlerts',
    summary: 'List raised alerts (budget thresholds, anomalies), newest first, with their delivery status',
    tag: TAG,
    permission: 'alerts.read',
    query: alertsQuery,
    response: { status: 200, description: 'A page of alerts.', schema: listOf(alertView) },
    async handle(call) {
      const after = decodeCursor('alerts', call.query.cursor, (a) => CURSOR_RE.test(a));
      const [at, id] = after === null ? [null, null] : (after.split('|') as [string, string]);
      const limit = call.query.limit;
      const rows = await read(call.env, tenantOf(call), (tx) =>
        alertsRepo.list(tx, {
          limit: limit + 1,
          before: at === null || id === null ? null : { createdAt: new Date(at), id },
          kind: call.query.kind ?? null,
          state: call.query.state ?? null,
        }),
      );
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      const next = rows.length > limit && last !== undefined ? encodeCursor('alerts', `${last.createdAt.toISOString()}|${last.id}`) : null;
      return { status: 200, body: { object: 'list', data: page.map(presentAlert), next_cursor: next } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${T}/alerts/test`,
    operationId: 'sendTestAlert',
    summary: 'Send a signed `webhook.test` event to every enabled webhook (to check a receiver)',
    tag: TAG,
    permission: 'alerts.write',
    response: { status: 201, description: 'The test alert; its deliveries run like any other.', schema: alertView },
    async handle(call) {
      const alert = await read(call.env, tenantOf(call), async (tx) => {
        const a = await raiseAlert(tx, 'webhook.test', `test:${randomUUID()}`, { message: 'Test event from Gatehouse.' }, auditActor(call.actor.principal));
        if (a === null) throw new Error('a fresh test alert key already exists');
        return a;
      });
      const deliveries = await read(call.env, tenantOf(call), (tx) => alertsRepo.deliveries(tx, alert.id));
      const summary = { ...alert, deliveries: { pending: deliveries.length, delivered: 0, failed: 0 } };
      return { status: 201, body: presentAlert(summary) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${T}/alerts/{alert}/resolve`,
    operationId: 'resolveAlert',
    summary: 'Resolve (acknowledge) an open alert; an anomaly alert that throttles the tenant lifts its throttle',
    tag: TAG,
    permission: 'alerts.write',
    response: { status: 200, description: 'The alert, resolved (as it was when it had been resolved already).', schema: alertView },
    async handle(call) {
      const tenantId = tenantOf(call);
      const id = call.params.alert ?? '';
      const by = `${auditActor(call.actor.principal).kind}:${call.actor.principal.id}`;
      // write(): the data plane of this replica has lifted the throttle before the answer.
      const summary = await write(call.env, tenantId, async (tx) => {
        const before = await alertsRepo.get(tx, id);
        if (before === null) throw notFound('alert');
        if (before.resolvedAt === null) {
          const resolved = await alertsRepo.resolve(tx, id, by);
          const lifted = await anomalyThrottlesRepo.liftForAlert(tx, id);
          await audit(tx, call.actor, 'alert.resolve', { kind: 'alert', id }, {
            before: { resolved_at: null },
            after: {
              resolved_at: resolved?.resolvedAt?.toISOString() ?? null,
              throttles_lifted: lifted.map((t) => ({ metric: t.metric, window: t.window, limit: t.limit })),
            },
          });
        }
        const now = await alertsRepo.summary(tx, id);
        if (now === null) throw notFound('alert');
        return now;
      });
      return { status: 200, body: presentAlert(summary) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${T}/alerts/{alert}/deliveries`,
    operationId: 'listAlertDeliveries',
    summary: "An alert's webhook deliveries: state, attempts, last status",
    tag: TAG,
    permission: 'alerts.read',
    response: { status: 200, description: 'Every delivery of the alert (one per subscribed webhook).', schema: listOf(deliveryView) },
    async handle(call) {
      const ds = await read(call.env, tenantOf(call), async (tx) => {
        const alert = await alertsRepo.get(tx, call.params.alert ?? '');
        if (alert === null) throw notFound('alert');
        return alertsRepo.deliveries(tx, alert.id);
      });
      return { status: 200, body: { object: 'list', data: ds.map(presentDelivery), next_cursor: null } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${T}/forecast`,
    operationId: 'getBudgetForecast',
    summary: 'When each day/month budget (cost, tokens, requests) runs out at the recent rate',
    tag: TAG,
    permission: 'alerts.read',
    response: { status: 200, description: 'Per rule (and per team/key counter): used, limit, rate and exhaustion time.', schema: forecastView },
    async handle(call) {
      const now = Date.now();
      const body = await read(call.env, tenantOf(call), async (tx) => {
        const limits = await effectiveLimits(tx);
        const rules = forecastRules({ rules: limits.rules.filter((r) => r.overridden !== true) });
        const { forecasts } = await tenantForecasts(tx, rules, limits.timeZone, now, DEFAULT_LOOKBACK_HOURS, call.env.forecastInputs);
        const scopeOf = new Map(rules.map((r) => [r.id, r.scope]));
        return {
          object: 'forecast' as const,
          time_zone: limits.timeZone,
          lookback_hours: DEFAULT_LOOKBACK_HOURS,
          generated_at: new Date(now).toISOString(),
          rules: presentForecasts(forecasts.map((f) => ({ ...f, scope: scopeOf.get(f.ruleId) ?? 'tenant' }))),
        };
      });
      return { status: 200, body };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${T}/alert-settings`,
    operationId: 'getAlertSettings',
    summary: "The tenant's alert settings: budget thresholds and anomaly action",
    tag: TAG,
    permission: 'alerts.read',
    response: { status: 200, description: 'The settings as they apply (defaults filled in).', schema: alertSettingsView },
    async handle(call) {
      return { status: 200, body: await read(call.env, tenantOf(call), (tx) => settingsView(call.env, tx)) };
    },
  }),
  defineRoute({
    method: 'PATCH',
    path: `${T}/alert-settings`,
    operationId: 'updateAlertSettings',
    summary: "Change the tenant's alert settings (tenants.settings.alerts)",
    tag: TAG,
    permission: 'alerts.write',
    body: patchAlertSettingsBody,
    response: { status: 200, description: 'The settings as they now apply.', schema: alertSettingsView },
    async handle(call) {
      // write(): a throttle lifted by the change is lifted on this replica before the answer.
      const after = await write(call.env, tenantOf(call), async (tx) => {
        const before = await settingsView(call.env, tx);
        const stored = (await alertsRepo.settings(tx)) as AlertSettings;
        const next: Record<string, unknown> = { ...stored };
        const b = call.body;
        const fields = [
          ['budget_thresholds', 'budgetThresholds'],
          ['anomaly_action', 'anomalyAction'],
          ['anomaly_throttle_fraction', 'anomalyThrottleFraction'],
          ['retention_days', 'retentionDays'],
        ] as const;
        for (const [wire, key] of fields) {
          const v = b[wire];
          if (v === null) delete next[key];
          else if (v !== undefined) next[key] = v;
        }
        if (!(await alertsRepo.setSettings(tx, next))) throw notFound('tenant');
        // Only the throttle action throttles: switching away lifts what is in force, at once.
        if ((await loadSettings(tx)).anomalyAction !== 'throttle') await anomalyThrottlesRepo.lift(tx, null);
        const now = await settingsView(call.env, tx);
        await audit(tx, call.actor, 'alert_settings.update', { kind: 'tenant', id: tx.tenantId }, { before, after: now });
        return now;
      });
      return { status: 200, body: after };
    },
  }),
];

