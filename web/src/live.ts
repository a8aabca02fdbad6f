// The live stream (GET /api/v1/stream, server-sent events). EventSource cannot send headers, and an access
// token in a URL would end up in server and proxy logs, so the stream opens with a one-minute ticket
// (POST /api/v1/stream/ticket, which refreshes the tokens if needed). When the stream ends (token expiry,
// logout elsewhere, server restart) or is refused, a new ticket opens it again.

import { accessToken, api, refresh } from "./api";

export interface LiveMessage {
  topic: string;
  data: Record<string, unknown>;
}

type Listener = (message: LiveMessage) => void;
export type LiveState = "connecting" | "open" | "closed";

const listeners = new Set<Listener>();
const stateListeners = new Set<(state: LiveState) => void>();
let source: EventSource | null = null;
let state: LiveState = "closed";
let retryTimer: number | undefined;
let wanted = false;
let failures = 0;

function setState(next: LiveState): void {
  state = next;
  for (const listener of stateListeners) listener(next);
}

export function liveState(): LiveState {
  return state;
}

export function onLiveState(listener: (state: LiveState) => void): () => void {
  stateListeners.add(listener);
  return () => stateListeners.delete(listener);
}

export function subscribe(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function startLive(): void {
  wanted = true;
  if (!source) void open();
}

export function stopLive(): void {
  wanted = false;
  window.clearTimeout(retryTimer);
  source?.close();
  source = null;
  setState("closed");
}

async function open(): Promise<void> {
  if (!accessToken() || !wanted) return;
  setState("connecting");
  let ticket: string;
  try {
    ticket = (await api<{ ticket: string }>("/api/v1/stream/ticket", { method: "POST" })).ticket;
  } catch {
    if (accessToken()) reconnect(false); // the hub is away; a logged-out session has left the page already
    return;
  }
  if (!wanted || source) return;
  source = new EventSource(`/api/v1/stream?ticket=${encodeURIComponent(ticket)}`);
  source.onopen = () => {
    failures = 0;
    setState("open");
  };
  source.onmessage = (e: MessageEvent<string>) => {
    const message = JSON.parse(e.data) as LiveMessage;
    if (message.topic === "bye") {
      reconnect(true);
      return;
    }
    for (const listener of listeners) listener(message);
  };
  source.onerror = () => {
    // CONNECTING: the browser retries by itself. CLOSED: refused (an expired token): refresh, reopen.
    if (source?.readyState === EventSource.CLOSED) reconnect(true);
    else setState("connecting");
  };
}

function reconnect(withRefresh: boolean): void {
  source?.close();
  source = null;
  setState("connecting");
  failures += 1;
  const delay = Math.min(30_000, 1_000 * 2 ** Math.min(failures, 5));
  window.clearTimeout(retryTimer);
  retryTimer = window.setTimeout(async () => {
    if (withRefresh) await refresh();
    void open();
  }, delay);
}
