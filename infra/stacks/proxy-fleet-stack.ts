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
    const tasks = new ProxyTasks(this, 'Tasks', {
      vpc: network.vpc,
      taskRole: props.controlPlane.proxyRole,
      logs: dataKey,
      controlPlaneUrl: props.controlPlane.api.apiEndpoint,
      ...(props.configYaml === undefined ? {} : { configYaml: props.configYaml }),
      secrets: Object.fromEntries(Object.entries(settings.targetSecrets).map(([env, secretName]) => [env, this.targetSecret(env, secretName, dataKey)])),
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
