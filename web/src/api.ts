// The hub's REST API, as the CLI uses it: bearer tokens, a refresh on 401, problem+json errors.

export interface Ref {
  id: number;
  code: string;
  name: string;
}

export interface Assignment {
  department: Ref;
  role: string;
  status: string;
  assigned_at: string;
  accepted_at: string | null;
  resolved_at: string | null;
  note: string | null;
}

export interface TimelineEntry {
  at: string;
  actor: string;
  action: string;
  from_status: string | null;
  to_status: string | null;
  department_id: number | null;
  note: string | null;
  data: Record<string, unknown>;
}

export interface Reporter {
  name: string | null;
  phone: string | null;
  anonymous: boolean;
  can_reveal: boolean;
}

export interface EventOut {
  id: number;
  number: string;
  title: string;
  description: string;
  channel: string;
  status: string;
  status_label: string;
  urgency: string;
  grade: string | null;
  grade_label: string | null;
  category: { id: number; code: string; name: string; path: string } | null;
  location: { lon: number; lat: number } | null;
  address: string | null;
  areas: Record<string, Ref>;
  reporter: Reporter | null;
  lead_department: Ref | null;
  assignments: Assignment[];
  suggestion: {
    category?: { id: number; path: string; name: string } | null;
    department?: Ref | null;
    confidence?: number | null;
    source?: string;
    [key: string]: unknown;
  } | null;
  needs_review: boolean;
  created_at: string;
  dispatched_at: string | null;
  resolved_at: string | null;
  closed_at: string | null;
  sign_deadline: string | null;
  resolve_deadline: string | null;
  deadline_state: string;
  current_deadline: "sign" | "resolve" | null;
  supervised: boolean;
  escalated: boolean;
  extension_requested_until: string | null;
  merged_into: number | null;
  rating: number | null;
  resolution: string | null;
  allowed_actions: string[];
  timeline?: TimelineEntry[] | null;
}

export interface EventPage {
  items: EventOut[];
  total: number;
  limit: number;
  offset: number;
}

export interface Me {
  id: number | null;
  username: string;
  role: string;
  role_label: string;
  department_id: number | null;
  area_id: number | null;
  may: Record<string, string[]>;
}

export interface UiConfig {
  version: string;
  mode: string;
  timezone: string;
  city: { code: string; name: string; level: string } | null;
  features: Record<string, boolean>;
  optional_paths: string[];
  demo_users: { username: string; role: string; role_label: string; display_name: string }[];
}

export interface AreaCount {
  code: string;
  name: string;
  center: [number, number] | null;
  open: number;
  overdue: number;
  near: number;
  by_status: Record<string, number>;
  by_urgency: Record<string, number>;
}

export interface MapPayload {
  area: { code: string; name: string; level: string };
  path: { code: string; name: string; level: string }[];
  child_level: string | null;
  areas: AreaCount[];
  unlocated: number;
  events: {
    mode: "points" | "cells";
    fields: string[];
    rows: unknown[][];
    total: number;
    cell: number | null;
    codes?: Record<string, string[]> | null;
  };
  heat: { days: number; cell: number; fields: string[]; rows: number[][] };
  generated_at: string;
}

export interface SensorAreaCount {
  code: string;
  name: string;
  center: [number, number] | null;
  total: number;
  by_health: Record<string, number>;
}

/** GET /api/v1/sensors: the sensors of an area at its zoom level, by health. */
export interface SensorPayload {
  area: { code: string; name: string; level: string };
  child_level: string | null;
  areas: SensorAreaCount[];
  unlocated: number;
  by_health: Record<string, number>;
  sensors: {
    mode: "points" | "cells";
    fields: string[];
    rows: unknown[][];
    total: number;
    cell: number | null;
    codes?: Record<string, string[]> | null;
  };
  kinds: Record<string, string>;
  expected_s: Record<string, number>;
  generated_at: string;
}

/** One sensor series behind an event, to read from GET /api/v1/telemetry/series — or, when `personal` (a
 * meter that serves a registered person), from POST /api/v1/telemetry/series/personal with a purpose. */
export interface SeriesRef {
  device: string;
  name: string;
  metric: string;
  unit: string;
  since: string;
  until: string;
  resolution: string;
  personal: boolean;
}

export interface SeriesOut {
  device: string;
  metric: string;
  unit: string;
  resolution: string;
  points: { ts: string; value?: number | null; avg?: number | null; last?: number | null }[];
  truncated: boolean;
}

export interface Summary {
  day: string;
  intake_today: number;
  dispatched_today: number;
  resolved_today: number;
  closed_today: number;
  open: number;
  overdue: number;
  near: number;
  review_queue: number;
  supervised_open: number;
  by_status: Record<string, number>;
  by_channel_today: Record<string, number>;
}

export interface EvaluationRow {
  key: string;
  name: string;
  volume: number;
  signed_on_time_rate: number | null;
  resolved_on_time_rate: number | null;
  return_rate: number | null;
  resolution_rate: number | null;
  satisfaction_rate: number | null;
  mean_rating: number | null;
  mean_handling_hours: number | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly body: unknown,
  ) {
    super(detail);
  }
}

interface Tokens {
  access: string;
  refresh: string;
}

const STORE = "cityhub.tokens";
let tokens: Tokens | null = JSON.parse(sessionStorage.getItem(STORE) ?? "null") as Tokens | null;
let refreshing: Promise<boolean> | null = null;
let onLoggedOut: () => void = () => {};

export function whenLoggedOut(handler: () => void): void {
  onLoggedOut = handler;
}

export function accessToken(): string | null {
  return tokens?.access ?? null;
}

function keep(next: Tokens | null): void {
  tokens = next;
  if (next) sessionStorage.setItem(STORE, JSON.stringify(next));
  else sessionStorage.removeItem(STORE);
}

type Query = Record<string, string | number | boolean | (string | number)[] | null | undefined>;

function url(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === null || value === undefined || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) params.append(name, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

async function problem(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const detail =
    (body as { detail?: unknown } | null)?.detail ?? `${response.status} ${response.statusText || "error"}`;
  return new ApiError(response.status, typeof detail === "string" ? detail : JSON.stringify(detail), body);
}

/** Exchange the refresh token for a new pair (rotation); false when the session is over. */
export async function refresh(): Promise<boolean> {
  if (!tokens) return false;
  refreshing ??= (async () => {
    try {
      const response = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: tokens?.refresh }),
      });
      if (!response.ok) return false;
      const body = (await response.json()) as { access_token: string; refresh_token: string };
      keep({ access: body.access_token, refresh: body.refresh_token });
      return true;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export async function api<T>(
  path: string,
  options: { method?: string; body?: unknown; query?: Query; auth?: boolean } = {},
): Promise<T> {
  const send = () =>
    fetch(url(path, options.query), {
      method: options.method ?? "GET",
      headers: {
        Accept: "application/json",
        ...(options.body !== undefined ? { "Content-Type": "application/json" } : {}),
        ...(tokens && options.auth !== false ? { Authorization: `Bearer ${tokens.access}` } : {}),
      },
      body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
    });
  let response = await send();
  if (response.status === 401 && options.auth !== false && tokens) {
    if (await refresh()) response = await send();
    if (response.status === 401) {
      keep(null);
      onLoggedOut();
    }
  }
  if (!response.ok) throw await problem(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export async function login(username: string, password: string): Promise<Me> {
  const body = await api<{ access_token: string; refresh_token: string }>("/api/v1/auth/login", {
    method: "POST",
    body: { username, password },
    auth: false,
  });
  keep({ access: body.access_token, refresh: body.refresh_token });
  return api<Me>("/api/v1/auth/me");
}

/** End this login session (``everywhere``: all of the user's) and forget its tokens. */
export async function logout(everywhere = false): Promise<void> {
  try {
    await api("/api/v1/auth/logout", { method: "POST", query: everywhere ? { everywhere: true } : undefined });
  } finally {
    keep(null);
  }
}

export const events = {
  list: (query: Query) => api<EventPage>("/api/v1/events", { query }),
  get: (id: number) => api<EventOut>(`/api/v1/events/${id}`),
  act: (id: number, path: string, body: unknown) =>
    api<EventOut>(`/api/v1/events/${id}/${path}`, { method: "POST", body }),
  revealReporter: (id: number, purpose: string) =>
    api<Reporter>(`/api/v1/events/${id}/reporter`, { method: "POST", body: { purpose } }),
};

export const telemetry = {
  series: (ref: SeriesRef) => {
    const { device, metric, since, until, resolution } = ref;
    return api<SeriesOut>("/api/v1/telemetry/series", { query: { device, metric, since, until, resolution } });
  },
  /** A registered person's meter: read with the reader's purpose, which the hub keeps in the audit log. */
  personalSeries: (ref: SeriesRef, purpose: string) => {
    const { device, metric, since, until, resolution } = ref;
    return api<SeriesOut>("/api/v1/telemetry/series/personal", {
      method: "POST",
      body: { device, metric, since, until, resolution, purpose },
    });
  },
};

// ---------------------------------------------------------------- the data catalog (一本账)

export interface CatalogSummary {
  id: number;
  code: string;
  name: string;
  department_id: number;
  department: string;
  grade: string;
  grade_label: string;
  sharing: string;
  sharing_label: string;
  open_attribute: string;
  open_label: string;
  update_cycle: string;
  tags: string[];
  restricting_tags: string[];
  builtin: boolean;
  holds_sensitive_personal_information: boolean;
  quality_score: number | null;
}

export interface CatalogField {
  name: string;
  title: string;
  type: string;
  description: string;
  personal: boolean;
  sensitivity: string;
  mask: string;
  role: string;
}

export interface CatalogResource extends CatalogSummary {
  description: string;
  source_system: string;
  format: string;
  sharing_conditions: string;
  open_conditions: string;
  area_bound: boolean;
  fields: CatalogField[];
  has_data: boolean;
  sample_rows: number;
  created_at: string;
  updated_at: string;
}

export interface QualityRun {
  id: number;
  resource: string;
  started_at: string;
  finished_at: string;
  trigger: string;
  rows: number;
  scores: Record<string, number>;
  overall: number | null;
  passed: boolean;
  results: { dimension: string; check: string; checked: number; failed: number; score: number | null; passed: boolean; message: string }[];
}

export interface ShareRequest {
  id: number;
  resource: string;
  resource_name: string;
  owner_department_id: number;
  department_id: number;
  department: string;
  mode: string;
  fields: string[];
  purpose: string;
  legal_basis: string;
  period_days: number;
  status: string;
  created_at: string;
  decided_by: string | null;
  decided_at: string | null;
  decision_reason: string | null;
  grant_id: number | null;
}

export interface AccessLogEntry {
  id: number;
  at: string;
  grant_id: number;
  resource: string;
  department_id: number;
  actor: string;
  mode: string;
  fields: string[];
  row_count: number;
  purpose: string;
  outcome: string;
  detail: string | null;
}

export const catalog = {
  resources: (query: Query) => api<CatalogSummary[]>("/api/v1/catalog/resources", { query }),
  resource: (code: string) => api<CatalogResource>(`/api/v1/catalog/resources/${encodeURIComponent(code)}`),
  qualityRuns: (code: string, limit = 10) =>
    api<QualityRun[]>(`/api/v1/catalog/resources/${encodeURIComponent(code)}/quality-runs`, { query: { limit } }),
  requests: (query: Query) => api<ShareRequest[]>("/api/v1/catalog/requests", { query }),
  approve: (id: number, body: { scope: "area" | "city"; reason?: string }) =>
    api<{ id: number; scope: string }>(`/api/v1/catalog/requests/${id}/approve`, { method: "POST", body }),
  reject: (id: number, reason: string) =>
    api<ShareRequest>(`/api/v1/catalog/requests/${id}/reject`, { method: "POST", body: { reason } }),
  accessLog: (resource: string, limit = 50) =>
    api<AccessLogEntry[]>("/api/v1/catalog/access-log", { query: { resource, limit } }),
};
