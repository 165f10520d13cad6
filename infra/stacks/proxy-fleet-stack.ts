/**
 * The data path: the Fargate proxy fleet behind an NLB, in its own VPC. It holds the target
 * credentials and, with the task role the control plane declares, may call the proxy routes,
 * and nothing else: no ledger table, no evidence bucket, no signing key.
 */
import { CfnOutput, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { DataKey } from '../constructs/data-key.js';
import type { ControlPlaneApi } from '../constructs/control-plane-api.js';
import { ProxyLoadBalancer } from '../constructs/proxy-load-balancer.js';
import { PROXY_VPC_CIDR, ProxyNetwork } from '../constructs/proxy-network.js';
import { ProxyScaling } from '../constructs/proxy-scaling.js';
import { ProxyTasks } from '../constructs/proxy-tasks.js';
import { proxyPorts } from '../proxy-ports.js';
import type { Settings } from '../settings.js';

/** The value the identity secrets hold until the operator puts the real one; it parses as no key. */
export const IDENTITY_PLACEHOLDER = 'not set: put the real value in this secret';

export interface ProxyFleetStackProps extends StackProps {
  readonly settings: Settings;
  /** warden.yaml's text (the configFile context parameter): the connections the fleet serves. */
  readonly configYaml?: string | undefined;
  readonly controlPlane: ControlPlaneApi;
}

export class ProxyFleetStack extends Stack {
  constructor(scope: Construct, id: string, props: ProxyFleetStackProps) {
    super(scope, id, props);
    const { settings } = props;
    const dataKey = new DataKey(this, 'DataKey', 'Warden proxy fleet: target credentials and logs');
    const network = new ProxyNetwork(this, 'Network', { logs: dataKey });
    const identity = this.identitySecrets(dataKey);
    const tasks = new ProxyTasks(this, 'Tasks', {
      vpc: network.vpc,
      taskRole: props.controlPlane.proxyRole,
      logs: dataKey,
      controlPlaneUrl: props.controlPlane.api.apiEndpoint,
      ...(props.configYaml === undefined ? {} : { configYaml: props.configYaml }),
      secrets: Object.fromEntries(Object.entries(settings.targetSecrets).map(([env, secretName]) => [env, this.targetSecret(env, secretName, dataKey)])),
      identity,
    });
    const loadBalancer = new ProxyLoadBalancer(this, 'LoadBalancer', {
      vpc: network.vpc,
      service: tasks.service,
      internetFacing: settings.nlbScheme === 'internet-facing',
      clientCidrs: settings.clientCidrs ?? [PROXY_VPC_CIDR],
    });
    new ProxyScaling(this, 'Scaling', {
      cluster: tasks.cluster,
      service: tasks.service,
      nlb: loadBalancer.nlb,
      targetGroup: loadBalancer.targetGroups[0]!,
      minTasks: 2,
      maxTasks: 10,
      cpuPercent: 60,
      connectionsPerTask: 500,
    });
    new CfnOutput(this, 'ProxyCluster', { value: tasks.cluster.clusterName, description: 'ECS cluster of the proxy fleet' });
    new CfnOutput(this, 'ProxyService', { value: tasks.service.serviceName, description: 'ECS service of the proxy fleet: force a new deployment after changing a target secret' });
    new CfnOutput(this, 'GatewayHost', {
      value: loadBalancer.nlb.loadBalancerDnsName,
      description: `Clients connect here: ${proxyPorts.map((port) => `${port.name} ${port.port}`).join(', ')}`,
    });
    new CfnOutput(this, 'SshHostKeySecret', {
      value: identity.sshHostKey.secretArn,
      description: "Put the gateway's SSH host key here (OpenSSH private key text, e.g. from ssh-keygen -t ed25519 -N ''), then force a new deployment: every task serves it",
    });
    new CfnOutput(this, 'TlsCertificateSecret', {
      value: identity.tls.secretArn,
      description: 'Put the listeners\' TLS certificate and key here as JSON {"cert": PEM, "key": PEM}, then force a new deployment: every task serves it',
    });
  }

  /**
   * The identity every task serves, put by the operator. Until then the generated value parses
   * as neither an SSH key nor a certificate, so a task stops at start naming the variable
   * instead of serving a key of its own.
   */
  private identitySecrets(key: DataKey): { sshHostKey: Secret; tls: Secret } {
    const common = { encryptionKey: key, removalPolicy: RemovalPolicy.RETAIN } as const;
    const sshHostKey = new Secret(this, 'SshHostKey', {
      ...common,
      description: "Warden proxy fleet: the SSH gateway's host key (OpenSSH private key), given to every task as WARDEN_SSH_HOST_KEY",
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    });
    const tls = new Secret(this, 'TlsCertificate', {
      ...common,
      description: 'Warden proxy fleet: the TLS certificate and key, JSON {"cert","key"} (PEM), given to every task as WARDEN_TLS_CERT and WARDEN_TLS_KEY',
      generateSecretString: { secretStringTemplate: JSON.stringify({ cert: IDENTITY_PLACEHOLDER }), generateStringKey: 'key', passwordLength: 32, excludePunctuation: true },
    });
    for (const secret of [sshHostKey, tls]) {
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason: "The gateway's identity is what clients pin (SSH known_hosts) or trust (the TLS certificate); it is replaced by the operator, with clients told, never rotated behind their backs by a Lambda.",
      });
    }
    return { sshHostKey, tls };
  }

  /** A target credential: created with a random value, which the operator replaces with the real one. */
  private targetSecret(env: string, secretName: string, key: DataKey): Secret {
    const secret = new Secret(this, `Target-${env}`, { secretName, encryptionKey: key, removalPolicy: RemovalPolicy.RETAIN, description: `Warden target credential, given to the proxy as ${env}` });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'The credential belongs to the target (a database user, an SSH key, a service-account token) and is rotated where it is issued, then put here; a rotation Lambda here could not change it on the target.',
    });
    return secret;
  }
}
