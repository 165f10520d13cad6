/**
 * Plans a Kubernetes API request: it is decided whole, on the attributes the API server
 * authorizes on (proxy-fleet/kubernetes/request-info.ts derives them). An exec is also decided
 * on facts from a real shell parser about its command, as an SSH exec is.
 */
import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';
import type { AuthorizeCommand, KubernetesRequestAttributes } from '../../core/contract.js';
import { contentDetectors } from '../../core/masking/detectors.js';
import { maskText } from '../../core/masking/mask-text.js';
import { capped, enforced, refusedWhole, type PlannedCommand } from './command-plan.js';
import type { PolicyEngine } from './policy-engine.js';
import type { SessionRecord } from './session-store.js';
import { decideShell, NO_COMMAND } from './shell-decision.js';

const OBJECT_VERBS: ReadonlySet<string> = new Set(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection']);
const STREAMING_SUBRESOURCES: ReadonlySet<string> = new Set(['exec', 'attach', 'portforward']);
/** A word of only these characters is read by a shell as itself. */
const BARE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;
/** Words a shell parses as syntax, not as the program, when they come first: bash's reserved words, and let. */
const COMMAND_POSITION_WORDS: ReadonlySet<string> = new Set(['case', 'coproc', 'do', 'done', 'elif', 'else', 'esac', 'fi', 'for', 'function', 'if', 'in', 'let', 'select', 'then', 'time', 'until', 'while']);
/** What a masked value is written back with escaped, so that it cannot change the shape of a request target. */
const TARGET_SYNTAX = /[^\x21-\x7e]|[%&=+#?/;]/gu;

/**
 * Warden's Cedar action for a request; undefined for a verb it does not know. Streaming
 * subresources are their own actions whatever the verb (WebSocket upgrades arrive as GET, SPDY as POST).
 */
export function kubernetesAction(request: KubernetesRequestAttributes): string | undefined {
  if (!request.resourceRequest) return request.verb === 'get' || request.verb === 'head' ? 'k8s:discovery' : 'k8s:nonresource';
  if (STREAMING_SUBRESOURCES.has(request.subresource)) return `k8s:${request.subresource}`;
  if (request.verb === 'proxy' || request.subresource === 'proxy') return 'k8s:proxy';
  return OBJECT_VERBS.has(request.verb) ? `k8s:${request.verb}` : undefined;
}

/**
 * An exec's argv as one POSIX shell command line that parses back into exactly these words. The
 * first word is quoted also when a shell would not take it for the program (`A=1`, `time`, `let`):
 * the container runtime runs argv[0] itself, so the facts must be about argv[0].
 */
export function shellQuote(argv: readonly string[]): string {
  return argv
    .map((word, index) => {
      const bare = BARE_WORD.test(word) && (index > 0 || (!word.includes('=') && !COMMAND_POSITION_WORDS.has(word)));
      return bare ? word : `'${word.replaceAll("'", `'\\''`)}'`;
    })
    .join(' ');
}

export function planKubernetes(policy: PolicyEngine, session: SessionRecord, command: AuthorizeCommand): PlannedCommand {
  const request = command.kubernetes;
  if (!request) return refusedWhole(command, policy.version, `${command.kind} without Kubernetes request attributes cannot be decided`, 'wrong-protocol');
  const action = kubernetesAction(request);
  if (!action) return refusedWhole(command, policy.version, `"${request.verb}" is not a Kubernetes verb Warden knows`, 'unknown-kubernetes-verb');

  const { verb, apiGroup, resource, subresource, namespace, name, path } = request;
  const attributes = { verb, apiGroup, resource, subresource, namespace, name, path };
  const target = { identity: session.identity, action, resource: { type: 'Cluster', id: session.connection } } as const;
  const facts = { action, ...attributes, namespace: masked(namespace), name: masked(name), path: maskedTarget(path) };
  const text = maskedRequestLine(command.text);
  if (action !== 'k8s:exec') {
    const context: Record<string, CedarValueJson> = { ...attributes, command: '', ...NO_COMMAND };
    return enforced(command, policy.version, policy.decide({ ...target, context }), facts, text);
  }
  const line = shellQuote(request.command ?? []);
  const shell = decideShell(policy, { ...target, context: { ...attributes, command: line } }, line);
  if (!shell.ok) return refusedWhole(command, policy.version, shell.error, 'unparsable-shell');
  const { programs, sudo, nestedShell } = shell.facts;
  return enforced(command, policy.version, shell.decision, { ...facts, command: capped(masked(line)), programs, sudo, nestedShell }, text);
}

function masked(value: string): string {
  return maskText(value, contentDetectors).text;
}

/** The request line (`GET /api/v1/…?…`) as recorded. */
function maskedRequestLine(line: string): string {
  const space = line.indexOf(' ');
  return capped(space < 0 ? masked(line) : `${masked(line.slice(0, space))} ${maskedTarget(line.slice(space + 1))}`);
}

/**
 * A request target (path and query) with what the detectors find masked, percent-encoded values
 * included (kubectl sends `alice%40example.com`): each path segment, query key and query value is
 * decoded, masked, and written back only if something in it was masked. The whole is masked too,
 * for what spans them (`aws_secret_access_key=…`).
 */
function maskedTarget(target: string): string {
  const mark = target.indexOf('?');
  const path = (mark < 0 ? target : target.slice(0, mark)).split('/').map((segment) => maskedComponent(segment, false)).join('/');
  if (mark < 0) return masked(path);
  const query = target.slice(mark + 1).split('&').map((pair) => pair.split('=').map((part) => maskedComponent(part, true)).join('=')).join('&');
  return masked(`${path}?${query}`);
}

function maskedComponent(raw: string, plusIsSpace: boolean): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(plusIsSpace ? raw.replaceAll('+', ' ') : raw);
  } catch {
    return masked(raw);
  }
  const result = masked(decoded);
  return result === decoded ? raw : result.replace(TARGET_SYNTAX, encodeURIComponent);
}
