// 调度台: new events with the suggested category and department and the confidence; confirm or correct
// and dispatch in one step; the review queue; merge duplicates or cancel what is not a case.

import { api, type EventPage } from "../api";
import { actionPanel } from "../components/actions";
import { eventCard } from "../components/eventCard";
import { list, worklist } from "../components/worklist";
import { h } from "../dom";
import { t } from "../i18n";

export function dispatcherView(root: HTMLElement): () => void {
  const w = worklist(
    [
      {
        key: "review",
        label: t("review_queue"),
        load: () => api<EventPage>("/api/v1/review-queue", { query: { limit: 100 } }),
        columns: ["category", "area", "created"],
      },
      {
        key: "waiting",
        label: t("new_events"),
        load: list({ status: ["received", "returned", "reopened"] }),
        columns: ["category", "area", "created"],
      },
      {
        key: "dispatched",
        label: t("recent_dispatched"),
        load: list({ status: ["dispatched"], limit: 30 }),
        columns: ["department", "area", "deadline"],
      },
    ],
    (e, done) =>
      h(
        "div",
        null,
        eventCard(e),
        e.allowed_actions.includes("dispatch") ? h("p", { class: "hint" }, t("correct_hint")) : null,
        actionPanel(e, done, { open: "dispatch" }),
      ),
    { title: t("dispatch") },
  );
  root.append(w.element);
  return w.dispose;
}
