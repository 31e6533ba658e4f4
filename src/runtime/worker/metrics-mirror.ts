/**
 * Instance metrics (and fuel) as the worker last published them into the channel, so that reading
 * them on the main thread is synchronous and costs no round trip, even while the guest is running.
 */
import type { InstanceMetrics } from '../types.ts';

const FIELDS = [
  'memoryBytes', 'peakMemoryBytes', 'fuelConsumed', 'calls', 'traps', 'wallTimeMs', 'cpuTimeMs',
  'hostFunctionCalls', 'openFileDescriptors', 'bytesRead', 'bytesWritten', 'networkConnections',
] as const satisfies readonly (keyof InstanceMetrics)[];

// Fails to compile when InstanceMetrics gains a field that is not mirrored above.
const mirrorsEveryField: Exclude<keyof InstanceMetrics, (typeof FIELDS)[number]> extends never ? true : never = true;
void mirrorsEveryField;

const FUEL_SLOT = FIELDS.length;

export function writeMetrics(slots: Float64Array, metrics: InstanceMetrics, fuel: number | null): void {
  for (let i = 0; i < FIELDS.length; i++) slots[i] = metrics[FIELDS[i]];
  slots[FUEL_SLOT] = fuel ?? NaN;
}

export function readMetrics(slots: Float64Array): InstanceMetrics {
  const out = {} as InstanceMetrics;
  for (let i = 0; i < FIELDS.length; i++) out[FIELDS[i]] = slots[i];
  return out;
}

/** Fuel left, or null when the instance has no fuel limit. */
export function readFuel(slots: Float64Array): number | null {
  const fuel = slots[FUEL_SLOT];
  return Number.isNaN(fuel) ? null : fuel;
}
