// A workbench layout: tabs of event lists on the left, the chosen event and its actions on the right,
// refreshed when the live stream reports a change.

import { events, type EventOut, type EventPage } from "../api";
import { debounce, h, replace } from "../dom";
import { t } from "../i18n";
import { subscribe } from "../live";
import type { AfterAction } from "./actions";
import { eventTable, type TableOptions } from "./eventTable";
import { errorText } from "../problems";

export interface Tab {
  key: string;
  label: string;
  load: () => Promise<EventPage>;
  columns?: TableOptions["columns"];
}

export interface Worklist {
  element: HTMLElement;
  reload: () => Promise<void>;
  dispose: () => void;
}

export function worklist(
  tabs: Tab[],
  detail: (e: EventOut, done: AfterAction) => HTMLElement,
  options: { title: string; extra?: HTMLElement; afterAction?: "next" | "stay" } = { title: "" },
): Worklist {
  let active = tabs[0];
  let selected: EventOut | null = null;
  let items: EventOut[] = [];
  const counts = new Map<string, number>();
  const tabBar = h("div", { class: "tabs", role: "tablist" });
  const list = h("div", { class: "list", role: "tabpanel" });
  const side = h("div", { class: "detail", "aria-live": "polite" }, h("p", { class: "empty" }, t("select_event")));

  const paintTabs = () =>
    replace(
      tabBar,
      tabs.map((tab) =>
        h(
          "button",
          {
            type: "button",
            role: "tab",
            "data-tab": tab.key,
            "aria-selected": tab === active ? "true" : "false",
            on: {
              click: () => {
                active = tab;
                void reload();
              },
            },
          },
          tab.label,
          counts.has(tab.key) ? h("span", { class: "count" }, counts.get(tab.key) ?? 0) : null,
        ),
      ),
    );

  let ticket = 0;
  const select = async (e: EventOut) => {
    selected = e;
    const mine = ++ticket; // a later choice wins over a slower earlier one
    paintList();
    replace(side, t("loading"));
    try {
      const full = await events.get(e.id);
      if (mine === ticket) replace(side, detail(full, done));
    } catch (err) {
      if (mine === ticket) replace(side, h("p", { class: "error" }, errorText(err)));
    }
  };

  const done: AfterAction = (current, failed) => {
    void reload().then(() => {
      // A dispatcher moves on to the next event; a handler or supervisor goes on with the same one, and so
      // does anyone whose action failed: they see what became of the event.
      const stay = failed || options.afterAction === "stay";
      const next = stay ? current : (items.find((i) => i.id !== current.id) ?? null);
      if (next) void select(next);
      else replace(side, h("p", { class: "empty" }, t("nothing")));
    });
  };

  const paintList = () =>
    replace(list, eventTable(items, { onSelect: (e) => void select(e), selectedId: selected?.id, columns: active.columns }));

  let first = true;
  const reload = async () => {
    paintTabs();
    try {
      const page = await active.load();
      items = page.items;
      counts.set(active.key, page.total);
      paintTabs();
      paintList();
    } catch (err) {
      replace(list, h("p", { class: "error" }, errorText(err)));
    }
    if (first) {
      first = false;
      await openFirstWork();
      return;
    }
    await Promise.all(
      tabs
        .filter((tab) => tab !== active)
        .map(async (tab) => {
          try {
            counts.set(tab.key, (await tab.load()).total);
          } catch {
            counts.delete(tab.key);
          }
        }),
    );
    paintTabs();
  };

  // On arrival: the first tab that has work, and its first item, so the work can start at once.
  const openFirstWork = async () => {
    for (const tab of items.length ? [] : tabs.filter((x) => x !== active)) {
      const page = await tab.load().catch(() => null);
      if (page && page.total > 0) {
        active = tab;
        items = page.items;
        counts.set(tab.key, page.total);
        break;
      }
    }
    paintList();
    if (items[0] && !selected) void select(items[0]);
    await reload();
  };

  const refresh = debounce(() => void reload(), 1_000);
  const off = subscribe((m) => {
    if (m.topic.startsWith("events.") || m.topic === "resync") refresh();
  });
  const element = h(
    "section",
    { class: "workbench" },
    h("div", { class: "work-left" }, h("h1", null, options.title), tabBar, list, options.extra ?? null),
    side,
  );
  void reload();
  return { element, reload, dispose: off };
}

export const list = (query: Record<string, string | number | string[] | boolean>) => () =>
  events.list({ limit: 100, ...query });
