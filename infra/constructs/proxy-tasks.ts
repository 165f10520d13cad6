/**
 * The proxy fleet's Fargate service: the image built from proxy-fleet/Dockerfile, on arm64,
 * in the private subnets, without Linux capabilities.
 *
 * Target credentials reach the container as environment variables the connection config
 * names (passwordEnv, privateKeyEnv, tokenEnv), injected by ECS from Secrets Manager at
 * task start: the execution role reads exactly those secrets, and the process needs no
 * Secrets Manager access of its own. The task role is the control plane's proxyRole, which
 * may invoke the proxy routes and nothing else.
 *
 * The gateway's identity comes the same way, so that every task serves the same SSH host key
 * (WARDEN_SSH_HOST_KEY) and TLS certificate (WARDEN_TLS_CERT, WARDEN_TLS_KEY: the `cert` and
 * `key` fields of one JSON secret) and clients that pin or trust it reach any task.
 */
import { Duration, Validations } from 'aws-cdk-lib';
import { SecurityGroup, SubnetType, type IVpc } from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import {
  Capability,
  Cluster,
  ContainerImage,
  ContainerInsights,
  CpuArchitecture,
  FargateService,
  FargateTaskDefinition,
  LinuxParameters,
  LogDrivers,
  OperatingSystemFamily,
  Protocol,
  Secret as EcsSecret,
} from 'aws-cdk-lib/aws-ecs';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { proxyPorts } from '../proxy-ports.js';
import { repositoryRoot } from '../repository.js';
import type { DataKey } from './data-key.js';

export interface ProxyTasksProps {
  readonly vpc: IVpc;
  readonly taskRole: IRole;
  readonly logs: DataKey;
  readonly controlPlaneUrl: string;
  /** The warden.yaml text the fleet runs with (connections, masking, listeners); its secrets stay in `secrets`. */
  readonly configYaml?: string;
  /** Environment variable → the secret whose value it receives. */
  readonly secrets: Readonly<Record<string, ISecret>>;
  /** The identity every task shares: the SSH host key (OpenSSH private key text) and a JSON secret {"cert", "key"} (PEM). */
  readonly identity: { readonly sshHostKey: ISecret; readonly tls: ISecret };
}

export const PROXY_CONTAINER = 'proxy';

export class ProxyTasks extends Construct {
  readonly cluster: Cluster;
  readonly service: FargateService;

  constructor(scope: Construct, id: string, props: ProxyTasksProps) {
    super(scope, id);
    this.cluster = new Cluster(this, 'Cluster', { vpc: props.vpc, containerInsightsV2: ContainerInsights.ENHANCED });
    const task = new FargateTaskDefinition(this, 'Task', {
      cpu: 1024,
      memoryLimitMiB: 2048,
      runtimePlatform: { cpuArchitecture: CpuArchitecture.ARM64, operatingSystemFamily: OperatingSystemFamily.LINUX },
      taskRole: props.taskRole,
    });
    const linux = new LinuxParameters(this, 'Linux', { initProcessEnabled: true });
    linux.dropCapabilities(Capability.ALL);
    task.addContainer(PROXY_CONTAINER, {
      // The build context is the repository root; its .dockerignore keeps it to what the image needs.
      image: ContainerImage.fromAsset(repositoryRoot, { file: 'proxy-fleet/Dockerfile', platform: Platform.LINUX_ARM64 }),
      logging: LogDrivers.awsLogs({ streamPrefix: 'proxy', logGroup: props.logs.logGroup(this, 'Logs') }),
      environment: {
        WARDEN_CONTROL_PLANE_URL: props.controlPlaneUrl,
        // The task role's credentials sign every call to the proxy routes (SigV4; IAM-authorized routes).
        WARDEN_PROXY_AUTH: 'iam',
        WARDEN_LISTEN_HOST: '0.0.0.0',
        // The image's /app is read-only to the node user; the self-signed certificate, host key and recordings go here.
        WARDEN_STATE_DIR: '/tmp/warden',
        // A task's disk does not outlive it: recordings go to the evidence bucket through a PUT the control plane signs.
        WARDEN_RECORDINGS: 'upload',
        // Inside the 120 s stop timeout below: sessions get 100 s to finish, then results are reported.
        WARDEN_DRAIN_SECONDS: '100',
        ...(props.configYaml ? { WARDEN_CONFIG_YAML: props.configYaml } : {}),
        ...Object.fromEntries(proxyPorts.map((port) => [port.env, String(port.containerPort)])),
      },
      secrets: {
        ...Object.fromEntries(Object.entries(props.secrets).map(([env, secret]) => [env, EcsSecret.fromSecretsManager(secret)])),
        WARDEN_SSH_HOST_KEY: EcsSecret.fromSecretsManager(props.identity.sshHostKey),
        WARDEN_TLS_CERT: EcsSecret.fromSecretsManager(props.identity.tls, 'cert'),
        WARDEN_TLS_KEY: EcsSecret.fromSecretsManager(props.identity.tls, 'key'),
      },
      portMappings: proxyPorts.map((port) => ({ containerPort: port.containerPort, protocol: Protocol.TCP })),
      linuxParameters: linux,
      user: 'node',
      // Time for sessions to finish once the NLB stops sending new ones.
      stopTimeout: Duration.seconds(120),
    });
    Validations.of(task).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason: 'The variables are the control plane URL and the listen ports, none of them secret; credentials come through `secrets` (Secrets Manager), never `environment`.',
    });
    Validations.of(task).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ecr:GetAuthorizationToken has no resource-level permissions, and the execution role needs it on * to pull the image; the pull itself is limited to the asset repository.',
    });
    this.service = new FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: task,
      desiredCount: 2,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
      vpcSubnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [new SecurityGroup(this, 'SecurityGroup', { vpc: props.vpc, description: 'Warden proxy tasks: from the NLB only; out to targets and the control plane' })],
      assignPublicIp: false,
    });
  }
}
