/**
 * The control plane's HTTP API, one route per entry of functions/routes.ts:
 *   - proxy routes: IAM auth, for proxyRole only: the proxy fleet's task role, declared here
 *     because the handlers check that callers are its sessions (WARDEN_PROXY_ROLE_ARN);
 *   - public routes: a JWT authorizer checks the Warden token the caller bears, then the
 *     handler checks it again, with revocation, as it does locally;
 *   - the public routes in handlerAuthenticated carry no bearer token the gateway could
 *     check, so their handlers verify what they carry instead;
 *   - the public routes in anonymous need no credential at all.
 * Every other public route gets the JWT authorizer: a new route is authorized unless it is
 * named in one of the two maps, with its reason.
 */
import { ArnFormat, Aws, Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, HttpNoneAuthorizer, HttpRoute, HttpRouteKey, HttpStage, LogGroupLogDestination, type IHttpRouteAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { Route } from '../../functions/routes.js';
import { acknowledgeWildcardResource } from '../nag.js';
import type { DataKey } from './data-key.js';

/** Public routes whose credential is not a bearer token, and what the handler verifies instead. */
export const handlerAuthenticated: ReadonlyMap<string, string> = new Map([
  ['/v1/token', 'RFC 8693 token exchange: the identity token travels in the form body, where no authorizer can read it; the handler verifies it against its issuer JWKS.'],
  ['/v1/slack/interactions', "Slack signs the request with its v0 HMAC signature and sends no JWT; the handler verifies the signature, the timestamp window and replays."],
]);

/** Public routes anyone may read, and why. */
export const anonymous: ReadonlyMap<string, string> = new Map([
  ['/.well-known/openid-configuration', "The token issuer's discovery document: the JWT authorizer reads it to find the key set, so it cannot be behind that authorizer. It holds public metadata only."],
  ['/.well-known/jwks.json', 'The public keys of Warden tokens (RFC 7517), which the JWT authorizer fetches to verify them: public by design.'],
  ['/console', "The web console's page: a browser loads it before anyone signs in. It holds code only; its data comes from the JWT-authorized routes."],
  ['/console/{path+}', "The web console's script, style sheet and sign-in callback page: code only, loaded before sign-in."],
  ['/v1/console/config', 'How the console signs people in (the OpenID issuer and client id): public metadata the sign-in page needs before it has a token.'],
]);

/** Why a public route has no authorizer, when it has none. */
const withoutAuthorizer = (path: string): string | undefined => handlerAuthenticated.get(path) ?? anonymous.get(path);

export interface ControlPlaneApiProps {
  readonly logs: DataKey;
  /** Unset: this API's own execute-api URL. */
  readonly tokenIssuer?: string | undefined;
  readonly tokenAudience: string;
}

export class ControlPlaneApi extends Construct {
  readonly api: HttpApi;
  /** The `iss` the JWT authorizer requires of Warden tokens. */
  readonly tokenIssuer: string;
  /** The proxy fleet's task role: execute-api:Invoke on exactly the proxy routes, on the $default stage, and nothing else. */
  readonly proxyRole: Role;
  private readonly jwt: HttpJwtAuthorizer;
  private readonly iam = new HttpIamAuthorizer();

  constructor(scope: Construct, id: string, props: ControlPlaneApiProps) {
    super(scope, id);
    this.api = new HttpApi(this, 'Api', { apiName: 'warden', description: 'Warden control plane', createDefaultStage: false });
    new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: 1000, burstLimit: 2000 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(props.logs.logGroup(this, 'AccessLogs')),
        // No headers: the Authorization header holds a token.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            time: '$context.requestTime',
            ip: '$context.identity.sourceIp',
            caller: '$context.identity.caller',
            route: '$context.routeKey',
            status: '$context.status',
            latencyMs: '$context.responseLatency',
            authorizerError: '$context.authorizer.error',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
    this.tokenIssuer = props.tokenIssuer ?? this.api.apiEndpoint;
    this.jwt = new HttpJwtAuthorizer('WardenToken', this.tokenIssuer, { jwtAudience: [props.tokenAudience] });
    this.proxyRole = new Role(this, 'ProxyRole', {
      assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com').withConditions({ StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } }),
      description: "Warden proxy fleet tasks: the control plane's proxy routes and nothing else",
    });
  }

  /** The routes of functions/routes.ts, each to the function of its entry. */
  addRoutes(routes: readonly Route[], functions: ReadonlyMap<string, IFunction>): void {
    const integrations = new Map<string, HttpLambdaIntegration>();
    for (const route of routes) {
      const handler = functions.get(route.entry);
      if (!handler) throw new Error(`no function for ${route.entry} (${route.method} ${route.path})`);
      let integration = integrations.get(route.entry);
      if (!integration) integrations.set(route.entry, (integration = new HttpLambdaIntegration(`${route.entry}-integration`, handler)));
      const created = new HttpRoute(this, `${route.method}${route.path}`.replace(/[^A-Za-z0-9]+/g, '-'), {
        httpApi: this.api,
        routeKey: HttpRouteKey.with(route.path, HttpMethod[route.method]),
        integration,
        authorizer: this.authorizerOf(route),
      });
      const reason = withoutAuthorizer(route.path);
      if (route.audience === 'public' && reason) Validations.of(created).acknowledge({ id: 'AwsSolutions-APIG4', reason });
      if (route.audience === 'proxy') this.allowProxy(route);
    }
  }

  private authorizerOf(route: Route): IHttpRouteAuthorizer {
    if (route.audience === 'proxy') return this.iam;
    return withoutAuthorizer(route.path) === undefined ? this.jwt : new HttpNoneAuthorizer();
  }

  /** A path parameter becomes `*`: its value is known per request only. */
  private allowProxy(route: Route): void {
    const arn = Stack.of(this).formatArn({
      service: 'execute-api',
      resource: this.api.apiId,
      resourceName: `$default/${route.method}${route.path.replace(/\{[^}]+\}/g, '*')}`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
    this.proxyRole.addToPrincipalPolicy(new PolicyStatement({ actions: ['execute-api:Invoke'], resources: [arn] }));
    if (route.path.includes('{')) {
      acknowledgeWildcardResource(this.proxyRole, arn, `The * stands for the path parameter of ${route.method} ${route.path}, a proxy route; it is known per request only.`);
    }
  }
}
