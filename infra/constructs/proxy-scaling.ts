/**
 * Scales the proxy fleet on CPU and on active connections per task. Connections are the
 * NLB's ActiveFlowCount (every listener) divided by the healthy tasks, in metric math,
 * because a total does not fall as tasks are added and target tracking needs one that does.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import { CfnScalingPolicy, PredefinedMetric, ScalableTarget, ServiceNamespace } from 'aws-cdk-lib/aws-applicationautoscaling';
import type { Cluster, FargateService } from 'aws-cdk-lib/aws-ecs';
import type { NetworkLoadBalancer, NetworkTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Role } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

export interface ProxyScalingProps {
  readonly cluster: Cluster;
  readonly service: FargateService;
  readonly nlb: NetworkLoadBalancer;
  /** Any listener's target group: each has every task as a target. */
  readonly targetGroup: NetworkTargetGroup;
  readonly minTasks: number;
  readonly maxTasks: number;
  readonly cpuPercent: number;
  readonly connectionsPerTask: number;
}

export class ProxyScaling extends Construct {
  constructor(scope: Construct, id: string, props: ProxyScalingProps) {
    super(scope, id);
    const cooldowns = { scaleOutCooldown: Duration.minutes(1), scaleInCooldown: Duration.minutes(10) };
    const tasks = new ScalableTarget(this, 'TaskCount', {
      serviceNamespace: ServiceNamespace.ECS,
      resourceId: `service/${props.cluster.clusterName}/${props.service.serviceName}`,
      scalableDimension: 'ecs:service:DesiredCount',
      minCapacity: props.minTasks,
      maxCapacity: props.maxTasks,
      // ECS's service-linked role for Application Auto Scaling, as the ECS construct uses.
      role: Role.fromRoleArn(
        this,
        'ServiceLinkedRole',
        Stack.of(this).formatArn({ region: '', service: 'iam', resource: 'role/aws-service-role/ecs.application-autoscaling.amazonaws.com', resourceName: 'AWSServiceRoleForApplicationAutoScaling_ECSService' }),
      ),
    });
    tasks.scaleToTrackMetric('Cpu', { predefinedMetric: PredefinedMetric.ECS_SERVICE_AVERAGE_CPU_UTILIZATION, targetValue: props.cpuPercent, ...cooldowns });
    const loadBalancer = { name: 'LoadBalancer', value: props.nlb.loadBalancerFullName };
    new CfnScalingPolicy(this, 'Connections', {
      policyName: 'ActiveConnectionsPerTask',
      policyType: 'TargetTrackingScaling',
      scalingTargetId: tasks.scalableTargetId,
      targetTrackingScalingPolicyConfiguration: {
        targetValue: props.connectionsPerTask,
        scaleOutCooldown: cooldowns.scaleOutCooldown.toSeconds(),
        scaleInCooldown: cooldowns.scaleInCooldown.toSeconds(),
        customizedMetricSpecification: {
          metrics: [
            { id: 'flows', returnData: false, metricStat: { stat: 'Average', metric: { namespace: 'AWS/NetworkELB', metricName: 'ActiveFlowCount', dimensions: [loadBalancer] } } },
            {
              id: 'tasks',
              returnData: false,
              metricStat: {
                stat: 'Average',
                metric: { namespace: 'AWS/NetworkELB', metricName: 'HealthyHostCount', dimensions: [loadBalancer, { name: 'TargetGroup', value: props.targetGroup.targetGroupFullName }] },
              },
            },
            { id: 'perTask', expression: 'flows / tasks', label: 'Active connections per healthy task', returnData: true },
          ],
        },
      },
    });
  }
}
