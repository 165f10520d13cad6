/**
 * The proxy fleet's listeners: the port clients dial on the NLB, and the port the container
 * listens on (core/config.ts defaults, above 1024 so the process runs without privileges).
 */
export interface ProxyPort {
  readonly name: 'Postgres' | 'Ssh' | 'Kubernetes';
  readonly port: number;
  readonly containerPort: number;
  /** The container's environment variable that names containerPort. */
  readonly env: string;
}

export const proxyPorts: readonly ProxyPort[] = [
  { name: 'Postgres', port: 5432, containerPort: 15432, env: 'WARDEN_POSTGRES_PORT' },
  { name: 'Ssh', port: 22, containerPort: 2222, env: 'WARDEN_SSH_PORT' },
  // HTTPS to the Kubernetes API gateway: kubeconfig servers are https://NLB/clusters/CONNECTION.
  { name: 'Kubernetes', port: 443, containerPort: 8443, env: 'WARDEN_KUBERNETES_PORT' },
];
