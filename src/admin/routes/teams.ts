/** Tenant scope: teams. */
import { z } from 'zod';
import { teamsManageRepo } from '../../store/index.js';
import { decodeCursor, listBody, pageQuery } from '../http/cursor.js';
import { etagOf } from '../http/etag.js';
import { notFound } from '../problems.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { createTeamBody, patchTeamBody, presentTeam, teamView } from '../schemas/teams.js';
import { createTeam, deleteTeam, updateTeam } from '../services/teams.js';
import { createOnce, read, write } from '../tx.js';
import { listOf, tenantOf } from './lists.js';

const TAG = 'Teams';
const BASE = '/tenants/{tenant}/teams';

export const teamRoutes: AdminRoute[] = [
  defineRoute({
    method: 'GET',
    path: BASE,
    operationId: 'listTeams',
    summary: 'List teams',
    tag: TAG,
    permission: 'teams.read',
    query: z.strictObject({ ...pageQuery }),
    response: { status: 200, description: 'A page of teams, by slug.', schema: listOf(teamView) },
    async handle(call) {
      const after = decodeCursor('teams', call.query.cursor);
      const page = await read(call.env, tenantOf(call), (tx) => teamsManageRepo.list(tx, { after, limit: call.query.limit }));
      return { status: 200, body: listBody('teams', page, presentTeam) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: BASE,
    operationId: 'createTeam',
    summary: 'Create a team',
    tag: TAG,
    permission: 'teams.write',
    body: createTeamBody,
    idempotent: true,
    response: { status: 201, description: 'The new team.', schema: teamView },
    async handle(call) {
      const tenantId = tenantOf(call);
      return createOnce(call.env, tenantId, call.actor.principal.id, call.idempotency, async (tx) => {
        const t = await createTeam(tx, call.actor, call.body);
        return { result: { status: 201, body: presentTeam(t), etag: etagOf(t.version), location: `/admin/v1/tenants/${tenantId}/teams/${t.id}` } };
      });
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${BASE}/{team}`,
    operationId: 'getTeam',
    summary: 'Get a team',
    tag: TAG,
    permission: 'teams.read',
    response: { status: 200, description: 'The team.', schema: teamView },
    async handle(call) {
      const t = await read(call.env, tenantOf(call), (tx) => teamsManageRepo.get(tx, call.params.team ?? ''));
      if (t === null) throw notFound('team');
      return { status: 200, body: presentTeam(t), etag: etagOf(t.version) };
    },
  }),
  defineRoute({
    method: 'PATCH',
    path: `${BASE}/{team}`,
    operationId: 'updateTeam',
    summary: 'Rename a team',
    tag: TAG,
    permission: 'teams.write',
    body: patchTeamBody,
    ifMatch: 'required',
    response: { status: 200, description: 'The changed team.', schema: teamView },
    async handle(call) {
      const t = await write(call.env, tenantOf(call), (tx) => updateTeam(tx, call.actor, call.params.team ?? '', call.body, call.ifMatch));
      return { status: 200, body: presentTeam(t), etag: etagOf(t.version) };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: `${BASE}/{team}`,
    operationId: 'deleteTeam',
    summary: 'Delete a team that has no keys',
    tag: TAG,
    permission: 'teams.write',
    ifMatch: 'required',
    response: { status: 204, description: 'Deleted.' },
    async handle(call) {
      await write(call.env, tenantOf(call), (tx) => deleteTeam(tx, call.actor, call.params.team ?? '', call.ifMatch));
      return { status: 204 };
    },
  }),
];
