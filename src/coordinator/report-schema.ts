import { z } from 'zod';
import { MODEL_STATES } from '../shared/states.js';

const descriptorSchema = z.object({
  id: z.string(),
  version: z.string(),
  inputWidth: z.number().int().positive().nullable(),
  inputHeight: z.number().int().positive().nullable(),
  resize: z.enum(['nearest', 'bilinear', 'bicubic', 'lanczos3']),
  labels: z.array(z.string()),
});

const replicaSchema = z.object({
  modelId: z.string().min(1),
  state: z.enum(MODEL_STATES),
  reason: z.string(),
  configHash: z.string(),
  descriptor: descriptorSchema.nullable(),
});

/** Shape of `POST /internal/v1/engines/report`, checked before anything is stored. */
export const engineReportSchema = z.object({
  engineId: z.string().min(1).max(100),
  serverIndex: z.number().int().nonnegative(),
  address: z.string().min(3).max(300),
  startedAt: z.number(),
  replicas: z.array(replicaSchema).max(10_000),
  routingRevision: z.number().nonnegative(),
  assignmentsHash: z.string().max(100),
  wantsRouting: z.boolean().optional(),
});
