/**
 * The railway provider's runbook settings: the Railway service and environment each runbook target
 * names, the API endpoint and the token variable, how to roll back (deploymentRollback, or a redeploy
 * of the previous image) and how long to wait for the new deployment.
 */
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';

export const RAILWAY_API = 'https://backboard.railway.com/graphql/v2';

const railwayId = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a Railway id, a UUID like 8107edff-4b8e-44fc-b43a-04566e847a2a (Cmd/Ctrl+K in the project copies it)');

const serviceRef = z.strictObject({
  serviceId: railwayId.describe('the Railway service id'),
  environmentId: railwayId.describe('the Railway environment id (production, staging, ...)'),
});

export const settingsSchema = z.strictObject({
  services: z
    .record(z.string().min(1), serviceRef)
    .refine((services) => Object.keys(services).length > 0, 'must name at least one service')
    .describe('target name (as the runbook names it) -> its Railway service and environment'),
  baseUrl: z.url().default(RAILWAY_API).describe('the Railway public GraphQL API endpoint'),
  tokenEnv: envVarName.describe('environment variable holding a Railway account or workspace token (sent as Authorization: Bearer)'),
  method: z
    .enum(['rollback', 'redeploy-previous-image'])
    .default('rollback')
    .describe('rollback: deploymentRollback (the old image and variables); redeploy-previous-image: deploymentRedeploy with usePreviousImageTag, for services deployed from an image tag'),
  pollIntervalMs: z.int().positive().default(5000).describe('how often the new deployment is polled'),
  timeoutSeconds: z.int().positive().default(600).describe('longest wait for the new deployment to reach SUCCESS'),
  requestTimeoutMs: z.int().positive().default(10_000).describe('timeout of one API request'),
});
export type Settings = z.infer<typeof settingsSchema>;
export type ServiceRef = z.infer<typeof serviceRef>;
