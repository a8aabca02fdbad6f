// Who is logged in and what the hub offers; set once at boot and at login.

import type { Me, UiConfig } from "./api";

export const session: { config: UiConfig | null; me: Me | null } = { config: null, me: null };

export const PATHS: Record<string, string> = {
  overview: "/",
  dispatch: "/dispatch",
  inbox: "/inbox",
  supervise: "/supervise",
  alerts: "/alerts",
  events: "/events",
  audit: "/audit",
  report: "/report",
  catalog: "/catalog",
  users: "/users",
};

// The screens of each role, the first being its home. The API decides what each may see and do; this
// only decides which screens are worth offering. The catalog (数据目录) goes to the roles that
// cityhub/access/policy.py lets read it (catalog.read); citizens see only open data, through no screen yet.
export const NAV: Record<string, string[]> = {
  admin: ["overview", "dispatch", "supervise", "alerts", "events", "audit", "catalog", "users"],
  dispatcher: ["overview", "dispatch", "alerts", "events", "catalog"],
  handler: ["inbox", "overview", "events", "catalog"],
  supervisor: ["supervise", "overview", "alerts", "events", "audit", "catalog"],
  grid_worker: ["overview", "events", "report", "catalog"],
  data_steward: ["catalog", "overview", "events", "audit"],
  citizen: ["report"],
};

export function navFor(role: string | undefined): string[] {
  return NAV[role ?? ""] ?? ["overview", "events"];
}

export function feature(name: string): boolean {
  return session.config?.features[name] ?? false;
}

/** Whether the logged-in user may read this, as the hub says (``may`` of /auth/me, from its policy): a panel
 * the role may not read says so instead of asking for a 403. ``owner``: the department owning the resource
 * read, for reads allowed to its owner only. The API still decides every request. */
export function canRead(read: string, owner?: number): boolean {
  const relations = session.me?.may[read] ?? [];
  const owns = owner !== undefined && owner === session.me?.department_id;
  return relations.includes("any") || (relations.includes("owner") && owns);
}

/** Whether the hub serves this optional route (e.g. "/api/v1/alerts/{alert_id}/acknowledge"). */
export function hasPath(path: string): boolean {
  return session.config?.optional_paths.includes(path) ?? false;
}
