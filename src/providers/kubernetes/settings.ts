/**
 * The kubernetes provider's runbook settings: where the API server is and how to authenticate (a
 * server URL and a token variable, or a kubeconfig file), the namespace, and the Deployment each
 * runbook version names (`{ stable: 'web', canary: 'web-canary' }`); how long a rollout may take.
 */
import { z } from 'zod';
import { envVarName } from '../../contract/index.ts';

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const settingsSchema = z
  .strictObject({
    server: z.url({ protocol: /^https?$/ }).optional().describe('API server URL, e.g. https://10.0.0.1:6443 (with tokenEnv); or give kubeconfigEnv instead'),
    tokenEnv: envVarName.optional().describe('environment variable holding a bearer token for server (a service account token)'),
    kubeconfigEnv: envVarName.optional().describe('environment variable holding the path of a kubeconfig file, instead of server and tokenEnv'),
    context: z.string().min(1).optional().describe("the kubeconfig context to use; default the kubeconfig's current-context"),
    namespace: z.string().max(63).regex(dnsLabel, 'must be a namespace name (lowercase letters, digits and hyphens)').describe('namespace of the Deployments'),
    deployments: z
      .record(z.string().min(1), z.string().max(253).regex(dnsSubdomain, 'must be a Deployment name (lowercase letters, digits, hyphens and dots)'))
      .refine((d) => Object.keys(d).length > 0, 'must name at least one Deployment')
      .describe("runbook version name -> Deployment name, e.g. { stable: 'web', canary: 'web-canary' }"),
    caDataEnv: envVarName.optional().describe("environment variable holding the API server's CA certificate (PEM, or base64 PEM as in a kubeconfig's certificate-authority-data)"),
    insecureSkipTlsVerify: z.boolean().default(false).describe("do not verify the API server's TLS certificate (like kubectl --insecure-skip-tls-verify); never in production"),
    rolloutTimeoutSeconds: z.int().positive().default(600).describe('longest wait for a rollout or a scale to finish, like kubectl rollout status --timeout'),
    pollIntervalMs: z.int().positive().default(2000).describe('how often a rollout or scale in progress is read'),
  })
  .superRefine((s, ctx) => {
    if (s.kubeconfigEnv) {
      for (const field of ['server', 'tokenEnv'] as const) {
        if (s[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'give either kubeconfigEnv, or server with tokenEnv, not both' });
      }
      return;
    }
    if (!s.server) ctx.addIssue({ code: 'custom', path: ['server'], message: 'required (with tokenEnv) unless kubeconfigEnv is given' });
    if (!s.tokenEnv) ctx.addIssue({ code: 'custom', path: ['tokenEnv'], message: 'required (with server) unless kubeconfigEnv is given' });
    if (s.context) ctx.addIssue({ code: 'custom', path: ['context'], message: 'names a kubeconfig context: give kubeconfigEnv too' });
  });
export type Settings = z.infer<typeof settingsSchema>;

// Loose objects: what is read is checked, everything else is kept as the server sent it.
