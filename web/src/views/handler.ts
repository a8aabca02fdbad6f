// 处置台 of a department: sign for (签收), progress notes, resolve (办结), return with a reason (退单),
// ask for an extension (延期). The API only shows events the department has a part in.

import { events } from "../api";
import { actionPanel } from "../components/actions";
import { eventCard, timelineList } from "../components/eventCard";
import { list, worklist } from "../components/worklist";
import { h } from "../dom";
import { t } from "../i18n";

export function handlerView(root: HTMLElement): () => void {
  const w = worklist(
    [
      { key: "sign", label: t("pending_sign"), load: list({ status: ["dispatched"] }), columns: ["area", "deadline"] },
      {
        key: "working",
        label: t("working"),
        load: list({ status: ["accepted", "in_progress", "suspended"] }),
        columns: ["area", "deadline"],
      },
      {
        key: "deadline",
        label: t("deadline_watch"),
        load: async () => {
          const [over, near] = await Promise.all([
            events.list({ deadline_state: "overdue", limit: 100 }),
            events.list({ deadline_state: "near", limit: 100 }),
          ]);
          return { items: [...over.items, ...near.items], total: over.total + near.total, limit: 200, offset: 0 };
        },
        columns: ["area", "deadline"],
      },
    ],
    (e, done) =>
      h(
        "div",
        null,
        eventCard(e),
        h("h3", null, t("actions")),
        actionPanel(e, done, { open: e.allowed_actions.includes("accept") ? "accept" : undefined }),
        h("h3", null, t("timeline")),
        timelineList(e),
      ),
    { title: t("inbox"), afterAction: "stay" },
  );
  root.append(w.element);
  return w.dispose;
}
