import { z } from 'zod';

/** Route that applies a new cluster configuration; behind the cluster token like every internal route. */
export const CONFIG_PATH = '/internal/v1/config';

/** Files are sent as text, rendered with absolute paths and inline labels by `cascade config apply`. */
export const configApplySchema = z.object({
  files: z
    .array(z.object({ name: z.string().min(1).max(200), text: z.string().max(1024 * 1024) }), { error: 'expected files: [{ name, text }]' })
    .min(1, { error: 'expected at least one file' })
    .max(20, { error: 'expected at most 20 files' }),
});

export type ConfigApplyRequest = z.infer<typeof configApplySchema>;

/** The coordinator's reply: the ids of the models the new configuration added, changed and removed. */
export const configChangeSchema = z.object({
  added: z.array(z.string()),
  changed: z.array(z.string()),
  removed: z.array(z.string()),
});

export type ConfigChange = z.infer<typeof configChangeSchema>;
