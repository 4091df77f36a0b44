/** The `provider:` field every action with a capability takes. */
import { z } from 'zod';

/** A name under the runbook's providers:, left out where exactly one provider there can do the action. */
export const providerField = () =>
  z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be lower-case letters, digits, "-" or "_"')
    .optional()
    .describe('a name under providers:; may be left out when exactly one provider can do this');
