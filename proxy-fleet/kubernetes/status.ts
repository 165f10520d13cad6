/**
 * Errors as the API server sends them: a meta/v1 Status object, which kubectl prints as
 * "Error from server (Reason): message". Sent on a plain response or on a socket being upgraded.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

const REASONS: Readonly<Record<number, string>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  413: 'RequestEntityTooLarge',
  500: 'InternalError',
  502: 'InternalError',
  503: 'ServiceUnavailable',
};

export function statusBody(code: number, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: REASONS[code] ?? 'Unknown', code });
}

export function sendStatus(response: ServerResponse, code: number, message: string): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const body = statusBody(code, message);
  response.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

/** Answers an upgrade request that will not be upgraded, and closes the socket. */
export function sendStatusOnSocket(socket: Duplex, code: number, message: string): void {
  const body = statusBody(code, message);
  socket.end(`HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}
