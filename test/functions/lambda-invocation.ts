/**
 * A Lambda invocation built by hand, as AWS delivers it: an API Gateway HTTP API event (payload
 * format 2.0), with the IAM authorizer's context when the route uses IAM auth, and a context.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context, Handler } from 'aws-lambda';

export interface HttpEventOptions {
  readonly method: 'GET' | 'POST';
  /** The route's path as API Gateway writes it, with `{name}` parameters. */
  readonly route: string;
  readonly pathParameters?: Record<string, string>;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** The caller the IAM authorizer verified (its `userArn`). */
  readonly iamCaller?: string;
}

export function httpEvent({ method, route, pathParameters = {}, headers = {}, body, iamCaller }: HttpEventOptions): APIGatewayProxyEventV2 {
  const path = route.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(pathParameters[name] ?? ''));
  const now = Date.now();
  const requestContext = {
    accountId: '123456789012',
    apiId: 'abcdef1234',
    domainName: 'abcdef1234.execute-api.eu-west-1.amazonaws.com',
    domainPrefix: 'abcdef1234',
    http: { method, path, protocol: 'HTTP/1.1', sourceIp: '10.0.0.1', userAgent: 'test' },
    requestId: randomUUID(),
    routeKey: `${method} ${route}`,
    stage: '$default',
    time: new Date(now).toISOString(),
    timeEpoch: now,
    ...(iamCaller
      ? { authorizer: { iam: { accessKey: 'ASIAEXAMPLE', accountId: iamCaller.split(':')[4] ?? '', callerId: 'AROAEXAMPLE:session', cognitoIdentity: null, principalOrgId: '', userArn: iamCaller, userId: 'AROAEXAMPLE:session' } } }
      : {}),
  };
  return {
    version: '2.0',
    routeKey: `${method} ${route}`,
    rawPath: path,
    rawQueryString: '',
    headers: { host: requestContext.domainName, ...headers },
    pathParameters,
    requestContext,
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: false,
  };
}

export function lambdaContext(functionName = 'warden-test'): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'test',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** Calls `handler` as the Lambda runtime would. */
export async function invoke(handler: Handler, event: APIGatewayProxyEventV2, context = lambdaContext()): Promise<APIGatewayProxyStructuredResultV2> {
  return (await handler(event, context, () => undefined)) as APIGatewayProxyStructuredResultV2;
}
