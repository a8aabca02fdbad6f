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
};

// The screens of each role, the first being its home. The API decides what each may see and do; this
// only decides which screens are worth offering. The catalog (数据目录) goes to the roles that
// cityhub/access/policy.py lets read it (catalog.read); citizens see only open data, through no screen yet.
export const NAV: Record<string, string[]> = {
  admin: ["overview", "dispatch", "supervise", "alerts", "events", "audit", "catalog"],
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

// The reads some screens make beyond events, and the roles cityhub/access/policy.py allows them
// (GLOBAL_ACTIONS, CATALOG_ACTIONS): a panel the role may not read says so instead of asking for a 403.
// "owner": only for the department that owns the resource. The API still decides.
const READS = {
  "reports.read": { admin: "any", dispatcher: "any", supervisor: "any", handler: "any" },
  "hotspots.read": { admin: "any", dispatcher: "any", supervisor: "any", data_steward: "any" },
  "alerts.read": { admin: "any", dispatcher: "any", handler: "any", grid_worker: "any", supervisor: "any" },
  "catalog.quality.read": { admin: "any", data_steward: "any", supervisor: "any", handler: "owner" },
} satisfies Record<string, Record<string, "any" | "owner">>;

/** Whether the logged-in role may read this; ``owner``: the department owning the resource read. */
export function canRead(read: keyof typeof READS, owner?: number): boolean {
  const relation = (READS[read] as Record<string, "any" | "owner">)[session.me?.role ?? ""];
  return relation === "any" || (relation === "owner" && owner !== undefined && owner === session.me?.department_id);
}

/** Whether the hub serves this optional route (e.g. "/api/v1/alerts/{alert_id}/acknowledge"). */
export function hasPath(path: string): boolean {
  return session.config?.optional_paths.includes(path) ?? false;
}
