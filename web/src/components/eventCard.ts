// The essentials of one event for a workbench's side panel: what, where, who, deadlines, suggestion.

import { events, type EventOut, type Reporter } from "../api";
import { fmtTime, h, pct, replace } from "../dom";
import { code, t } from "../i18n";
import { currentDeadline, deadlineBadge, gradeBadge, statusBadge, urgencyBadge } from "./badges";
import { purposeForm, REPORTER_PURPOSES } from "./reveal";

export function eventCard(e: EventOut): HTMLElement {
  const fact = (label: string, ...value: (Node | string | null)[]) =>
    h("div", { class: "fact" }, h("dt", null, t(label)), h("dd", null, ...value));
  // The 临期/超期 badge sits beside the deadline it is about.
  const applies = currentDeadline(e).label;
  const deadline = (label: "sign_deadline" | "deadline", at: string | null) =>
    fact(label, fmtTime(at), label === applies ? h("span", null, " ", deadlineBadge(e.deadline_state)) : null);
  return h(
    "article",
    { class: "event-card", "data-event-id": e.id, "data-status": e.status },
    h(
      "header",
      null,
      h("a", { href: `/events/${e.id}`, "data-link": true, class: "number" }, e.number),
      " ",
      statusBadge(e.status),
      " ",
      urgencyBadge(e.urgency),
      " ",
      gradeBadge(e.grade),
      " ",
      e.supervised ? h("span", { class: "badge supervised" }, t("supervised_badge")) : null,
    ),
    h("h3", null, e.title),
    e.description ? h("p", { class: "description" }, e.description) : null,
    h(
      "dl",
      { class: "facts" },
      fact("channel", code("channel", e.channel)),
      fact("category", e.category?.path ?? "—"),
      fact("address", e.address ?? "—"),
      fact("area", Object.values(e.areas).map((a) => a.name).join(" / ") || "—"),
      fact("reporter", reporterFact(e)),
      fact("department", e.lead_department?.name ?? "—"),
      fact("created_at", fmtTime(e.created_at)),
      deadline("sign_deadline", e.sign_deadline),
      deadline("deadline", e.resolve_deadline),
      e.extension_requested_until ? fact("until", fmtTime(e.extension_requested_until)) : null,
    ),
    suggestionBox(e),
  );
}

function reporterText(r: Reporter | null): string {
  if (r?.anonymous && !r.name && !r.phone) return t("anonymous");
  return [r?.name, r?.phone].filter(Boolean).join(" ") || "—";
}

// Masked by default (张*, 138****5678). Who calls reporters back asks for the full contact and says why.
function reporterFact(e: EventOut): HTMLElement {
  const box = h("span", { class: "reporter" }, reporterText(e.reporter));
  if (!e.reporter?.can_reveal) return box;
  const ask = () => {
    const form = purposeForm(REPORTER_PURPOSES, async (purpose) => {
      const full = await events.revealReporter(e.id, purpose);
      replace(box, reporterText(full), " ", h("span", { class: "muted" }, t("revealed_audited")));
    });
    replace(box, reporterText(e.reporter), " ", form);
  };
  box.append(
    " ",
    h("button", { type: "button", class: "btn small link", "data-reveal": "reporter", on: { click: ask } }, t("show_contact")),
  );
  return box;
}

export function suggestionBox(e: EventOut): HTMLElement | null {
  const s = e.suggestion;
  if (!s || (!s.category && !s.department)) return null;
  const confidence = typeof s.confidence === "number" ? s.confidence : null;
  return h(
    "div",
    { class: "suggestion", "data-confidence": confidence ?? "" },
    h("h4", null, t("suggestion"), s.source ? h("span", { class: "muted" }, ` · ${String(s.source)}`) : null),
    h(
      "p",
      null,
      h("span", { class: "muted" }, `${t("category")}: `),
      s.category?.path ?? "—",
      h("br"),
      h("span", { class: "muted" }, `${t("department")}: `),
      s.department?.name ?? "—",
    ),
    confidence !== null
      ? h(
          "div",
          { class: "confidence" },
          h("span", { class: "muted" }, `${t("confidence")} `),
          h("meter", { min: 0, max: 1, low: 0.5, high: 0.8, optimum: 1, value: confidence }),
          ` ${pct(confidence)}`,
        )
      : null,
  );
}

export function timelineList(e: EventOut): HTMLElement {
  const items = e.timeline ?? [];
  return h(
    "ol",
    { class: "timeline" },
    items.map((a) =>
      h(
        "li",
        { "data-action": a.action },
        h("time", null, fmtTime(a.at)),
        h("b", null, code("action", a.action)),
        a.to_status && a.to_status !== a.from_status ? h("span", { class: "muted" }, ` → ${code("status", a.to_status)}`) : null,
        a.action === "grade" ? h("span", { class: "muted" }, ` → ${gradeText(a.data.to)}`) : null,
        h("span", { class: "actor" }, ` · ${code("actor", a.actor)}`),
        a.note ? h("p", null, a.note) : null,
      ),
    ),
  );
}

function gradeText(grade: unknown): string {
  return typeof grade === "string" ? code("event_grade", grade) : t("not_graded");
}
