// Public API of the component runtime.
export { ComponentRuntime } from './component-runtime.ts';
export type { ComponentRuntimeOptions, InstantiateOptions } from './component-runtime.ts';
export { ComponentModule } from './component-module.ts';
export { ComponentInstance } from './component-instance.ts';
export type { ComponentInstanceOptions, ComponentMetrics } from './component-instance.ts';
export type { CacheStats } from './transpile-cache.ts';
export type { ComponentDescription, InterfaceDescription, FunctionDescription, TypeDescription, TypeOrigin } from './wit/describe.ts';
export type { HttpRequestInit, HttpResponse } from './wasi/http.ts';
export type { Violation } from './wasi/host-state.ts';
export type { PrimitiveKind } from './wit/wit-types.ts';
