/**
 * The NLB in front of the proxy fleet: TCP pass-through on every listener, because the proxy
 * terminates TLS itself (PostgreSQL negotiates TLS inside its protocol with SSLRequest, SSH is
 * not TLS, and the Kubernetes gateway serves the proxy's certificate). Clients reach it from
 * `clientCidrs` only; the tasks accept traffic from the NLB only.
 */
import { Duration, Validations } from 'aws-cdk-lib';
import { Peer, Port, SecurityGroup, SubnetType, type IVpc } from 'aws-cdk-lib/aws-ec2';
import type { FargateService } from 'aws-cdk-lib/aws-ecs';
import { NetworkLoadBalancer, Protocol, type NetworkTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Construct } from 'constructs';
import { proxyPorts } from '../proxy-ports.js';
import { PROXY_CONTAINER } from './proxy-tasks.js';

export interface ProxyLoadBalancerProps {
  readonly vpc: IVpc;
  readonly service: FargateService;
  readonly internetFacing: boolean;
  readonly clientCidrs: readonly string[];
}

export class ProxyLoadBalancer extends Construct {
  readonly nlb: NetworkLoadBalancer;
  readonly targetGroups: readonly NetworkTargetGroup[];

  constructor(scope: Construct, id: string, props: ProxyLoadBalancerProps) {
    super(scope, id);
    const securityGroup = new SecurityGroup(this, 'SecurityGroup', { vpc: props.vpc, allowAllOutbound: false, description: 'Warden NLB: clients in, proxy tasks out' });
    this.nlb = new NetworkLoadBalancer(this, 'Nlb', {
      vpc: props.vpc,
      internetFacing: props.internetFacing,
      vpcSubnets: { subnetType: props.internetFacing ? SubnetType.PUBLIC : SubnetType.PRIVATE_WITH_EGRESS },
      crossZoneEnabled: true,
      securityGroups: [securityGroup],
    });
    const clients = props.clientCidrs.map((cidr) => Peer.ipv4(cidr));
    this.targetGroups = proxyPorts.map((listener) => {
      for (const client of clients) securityGroup.addIngressRule(client, Port.tcp(listener.port), `${listener.name} clients`);
      props.service.connections.allowFrom(securityGroup, Port.tcp(listener.containerPort), `${listener.name} from the NLB`);
      return this.nlb
        .addListener(listener.name, { port: listener.port, protocol: Protocol.TCP, tcpIdleTimeout: Duration.hours(1) })
        .addTargets(listener.name, {
          port: listener.containerPort,
          protocol: Protocol.TCP,
          targets: [props.service.loadBalancerTarget({ containerName: PROXY_CONTAINER, containerPort: listener.containerPort })],
          healthCheck: { protocol: Protocol.TCP, interval: Duration.seconds(10), healthyThresholdCount: 2, unhealthyThresholdCount: 2 },
          deregistrationDelay: Duration.seconds(120),
        });
    });
    Validations.of(this.nlb).acknowledge({
        id: 'AwsSolutions-ELB2',
        reason: 'NLB access logs are written for TLS listeners only, and these are TCP pass-through; connections are recorded by the VPC flow logs, and every session and command by the ledger.',
      });
    if (props.clientCidrs.includes('0.0.0.0/0')) {
      Validations.of(securityGroup).acknowledge({ id: 'AwsSolutions-EC23', reason: 'The operator opened the listeners to any address with the clientCidrs context; every connection still has to present a Warden token before it reaches a target.' });
    }
  }
}
