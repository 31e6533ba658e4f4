/**
 * Instance metrics as the worker last published them into the channel, so that `metrics()` on the
 * main thread is synchronous and costs no round trip, even while the guest is running.
 */
import type { InstanceMetrics } from '../types.ts';

const FIELDS = [
  'memoryBytes', 'peakMemoryBytes', 'fuelConsumed', 'calls', 'traps', 'wallTimeMs', 'cpuTimeMs',
  'hostFunctionCalls', 'openFileDescriptors', 'bytesRead', 'bytesWritten',
] as const satisfies readonly (keyof InstanceMetrics)[];

// Fails to compile when InstanceMetrics gains a field that is not mirrored above.
const mirrorsEveryField: Exclude<keyof InstanceMetrics, (typeof FIELDS)[number]> extends never ? true : never = true;
void mirrorsEveryField;

export function writeMetrics(slots: Float64Array, metrics: InstanceMetrics): void {
  for (let i = 0; i < FIELDS.length; i++) slots[i] = metrics[FIELDS[i]];
}

export function readMetrics(slots: Float64Array): InstanceMetrics {
  const out = {} as InstanceMetrics;
  for (let i = 0; i < FIELDS.length; i++) out[FIELDS[i]] = slots[i];
  return out;
}
