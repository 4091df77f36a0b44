/**
 * Config, secret versions and restarts: seed 000's `fly secrets set` then `fly apps restart`, seed
 * 002's `gcloud secrets versions enable/disable` then a redeploy. Secret values never pass through
 * here: only version numbers and states.
 */
import type { ReplicaBoot } from '../contract/index.ts';
import { notRepeatable } from '../providers/index.ts';
import { Context } from '@temporalio/activity';
import { secretFromEnv, type SecretVersions, type VersionState } from '../providers/types.ts';
import type { ActivityDeps } from './deps.ts';
import type { ProviderChange } from '../actions/kind.ts';
import { withHeartbeats } from './heartbeat.ts';
import { refuseUnsafeRepeat } from './repeat-guard.ts';
import { providerRef, runbookFor } from './runbook.ts';

export const createConfigActivities = (deps: ActivityDeps) => {
  const ref = (input: ProviderChange) => providerRef(runbookFor(deps, input.system), input.provider);
  return {
    /** Sets config values (null unsets). Safe to retry: the same key applies once, and setting what is there changes nothing. */
    async setConfig(input: ProviderChange & { values: Record<string, string | null> }): Promise<void> {
      await withHeartbeats(deps.clients.get('config', ref(input)).setConfig(input.values, input));
    },

    /**
     * Sets the states of a secret's versions, e.g. the current one DISABLED so the previous is what
     * services load. Safe to retry: a version already in its state stays so.
     */
    async setSecretVersions(input: ProviderChange & { secret: string; states: Record<number, VersionState> }): Promise<SecretVersions> {
      return withHeartbeats(deps.clients.get('secrets', ref(input)).setVersionStates(input.secret, input.states, input));
    },

    /**
     * Sets an app secret to the value of the worker's environment variable `fromEnv` (null unsets it)
     * and has the app's Machines load it. The value is read here, in the worker, and goes nowhere but
     * the provider: the input names only the variable. Safe to retry: a secret already as asked is not
     * written again (the provider compares digests), and Machines that loaded it are not updated again.
     */
    async setAppSecret(input: ProviderChange & { target: string; name: string; fromEnv: string | null }): Promise<{ name: string; digest: string }[]> {
      const value = input.fromEnv === null ? null : secretFromEnv({ env: deps.env, logger: deps.logger }, input.fromEnv);
      const context = Context.current();
      return withHeartbeats(deps.clients.get('appSecrets', ref(input)).setAppSecret(input.target, input.name, value, { ...input, signal: context.cancellationSignal }));
    },

    /**
     * Restarts a version's replicas so they load the config and secrets now current; returns what each
     * replica loaded. Safe to retry where the provider honours the idempotency key (a repeat is
     * answered, not restarted again); with one that does not, a retry is refused for a person to decide.
     */
    async restartService(input: ProviderChange & { target: string }): Promise<ReplicaBoot[]> {
      const provider = ref(input);
      refuseUnsafeRepeat(`the restart of ${input.target}`, !notRepeatable(provider, 'restart'));
      const replicas = await withHeartbeats(deps.clients.get('restarts', provider).restart(input.target, input));
      return replicas.map(({ replica, pid, startedAt, config, secretVersions }) => ({ replica, pid, startedAt, config, secretVersions }));
    },
  };
};
