/**
 * The one set of states shown for engines and model replicas. Every change is stored
 * with the reason it happened, so the CLI and the status API can show why.
 */

/** States of a model replica on one engine, from placement to serving. */
export const MODEL_STATES = ['pending', 'fetching', 'loading', 'warming', 'ready', 'failed', 'unloading'] as const;

export type ModelState = (typeof MODEL_STATES)[number];

/** An engine as the coordinator sees it through its reports. */
export type EngineState = 'joining' | 'up' | 'down';
