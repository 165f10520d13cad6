/**
 * Logs and metrics of the control plane, with Powertools. Every handler starts from
 * controlPlaneHandler(): its logs carry the Lambda context, and in Lambda each invocation emits
 * one EMF document with the route's request count and latency. Nothing from the event is
 * logged, ever: it carries tokens and request bodies.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import middy, { type MiddlewareObj, type MiddyfiedHandler, type Request } from '@middy/core';
import { configureRuntime, isRuntimeConfigured } from './runtime.js';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME || 'warden-control-plane';

export const logger = new Logger({ serviceName });

const metrics = new Metrics({ serviceName, namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || 'Warden' });

/**
 * EMF is a stdout line that CloudWatch Logs turns into metrics; outside Lambda (`warden up`)
 * it would only fill the terminal. In Lambda, POWERTOOLS_METRICS_DISABLED can still turn it off.
 */
const inLambda = process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined;

/**
 * A middy handler with logging and metrics around it; `routeOf` names the route a metric counts
 * under. `guards` run next, before a Lambda builds its runtime: a caller they refuse costs no
 * cold-start build.
 */
export function controlPlaneHandler<TEvent, TResult>(routeOf: (event: TEvent) => string, guards: readonly MiddlewareObj<TEvent, TResult>[] = []): MiddyfiedHandler<TEvent, TResult> {
  // logEvent false overrides POWERTOOLS_LOGGER_LOG_EVENT: the event holds tokens and bodies.
  const handler = middy<TEvent, TResult>().use(injectLambdaContext(logger, { logEvent: false, resetKeys: true }));
  if (!inLambda) return handler.use([...guards]);
  return handler.use(routeMetrics(routeOf)).use([...guards]).use(lambdaRuntime());
}

/**
 * In Lambda nobody configures the runtime as `warden up` does: the first invocation of a cold
 * start builds it from the environment. Loaded on demand, so `warden up` never loads the KMS SDK.
 */
function lambdaRuntime<TEvent, TResult>(): MiddlewareObj<TEvent, TResult> {
  return {
    before: async () => {
      if (isRuntimeConfigured()) return;
      const { lambdaRuntime: build } = await import('./lambda-runtime.js');
      configureRuntime(await build());
    },
  };
}

/** Runs outermost (its after and onError last), so it sees the response the error middleware made. */
function routeMetrics<TEvent, TResult>(routeOf: (event: TEvent) => string): MiddlewareObj<TEvent, TResult> {
  const started = new WeakMap<Request<TEvent, TResult>, number>();
  const publish = (request: Request<TEvent, TResult>) => {
    metrics.addDimension('route', routeOf(request.event));
    metrics.addMetric('Requests', MetricUnit.Count, 1);
    metrics.addMetric('Latency', MetricUnit.Milliseconds, performance.now() - (started.get(request) ?? performance.now()));
    const status = statusOf(request.response);
    if (status !== undefined) metrics.addMetadata('statusCode', String(status));
    metrics.publishStoredMetrics();
  };
  return {
    before: (request) => {
      started.set(request, performance.now());
    },
    after: publish,
    onError: publish,
  };
}

function statusOf(response: unknown): number | undefined {
  const status = (response as { statusCode?: unknown } | null | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}
