/**
 * The proxy fleet's VPC: public subnets for the NAT gateways (and an internet-facing NLB),
 * private subnets for the tasks, in two AZs, with flow logs of all traffic.
 *
 * NAT, not only VPC endpoints: the control plane is an HTTP API, which has no private endpoint
 * (execute-api interface endpoints serve private REST APIs), and the targets may be anywhere.
 * One NAT gateway per AZ, so losing an AZ does not cut the other AZ's tasks off from the
 * control plane, which would refuse every command there (fail closed). The free S3 gateway
 * endpoint carries ECR's image layers off the NAT.
 */
import { FlowLogDestination, FlowLogTrafficType, GatewayVpcEndpointAwsService, IpAddresses, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import type { DataKey } from './data-key.js';

/** The VPC's range, written out so that security group rules built on it are checkable at synth. */
export const PROXY_VPC_CIDR = '10.80.0.0/16';

export class ProxyNetwork extends Construct {
  readonly vpc: Vpc;

  constructor(scope: Construct, id: string, props: { readonly logs: DataKey }) {
    super(scope, id);
    this.vpc = new Vpc(this, 'Vpc', {
      ipAddresses: IpAddresses.cidr(PROXY_VPC_CIDR),
      maxAzs: 2,
      natGateways: 2,
      subnetConfiguration: [
        { name: 'public', subnetType: SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'tasks', subnetType: SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
      gatewayEndpoints: { S3: { service: GatewayVpcEndpointAwsService.S3 } },
      flowLogs: { All: { destination: FlowLogDestination.toCloudWatchLogs(props.logs.logGroup(this, 'FlowLogs')), trafficType: FlowLogTrafficType.ALL } },
    });
  }
}
