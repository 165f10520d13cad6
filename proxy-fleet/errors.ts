/**
 * Refusals the proxy turns into wire errors. `unavailable` means the control plane or its
 * store could not be reached or did not answer in time: the proxy fails closed. `refused`
 * means the control plane answered and said no.
 */
export type RefusalKind = 'unavailable' | 'refused';

export class ControlPlaneRefusal extends Error {
  override readonly name = 'ControlPlaneRefusal';
  constructor(
    readonly kind: RefusalKind,
    /** The control plane's error code (core/errors.ts), or CONTROL_PLANE_UNAVAILABLE. */
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
