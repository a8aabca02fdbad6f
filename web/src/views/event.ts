// Event detail: the full timeline, the place on the map, related alerts and readings (once sensing
// exists), merged duplicates, and the actions this principal may take now.

import { ApiError, api, events, type EventOut } from "../api";
import { actionPanel } from "../components/actions";
import { levelBadge, unavailable } from "../components/badges";
import { eventCard, timelineList } from "../components/eventCard";
import { eventTable } from "../components/eventTable";
import { chartIn, TEXT } from "../charts";
import { echarts } from "../charts";
import { debounce, h, replace } from "../dom";
import { code, t } from "../i18n";
import { subscribe } from "../live";

interface Related {
  duplicates: EventOut[];
  merged_into: EventOut | null;
  alerts: Record<string, unknown>[] | null;
  readings: Record<string, unknown>[] | null;
}

export async function eventDetailView(root: HTMLElement, params: string[]): Promise<() => void> {
  const id = Number(params[0]);
  const main = h("div", { class: "event-main" });
  const side = h("div", { class: "event-side" });
  root.append(
    h(
      "section",
      { class: "event-detail" },
      h("p", null, h("a", { href: "#", on: { click: (e: Event) => (e.preventDefault(), history.back()) } }, "← ", t("back"))),
      h("div", { class: "event-grid" }, main, side),
    ),
  );
  let disposeMap: () => void = () => {};
  const load = async () => {
    let e: EventOut;
    try {
      e = await events.get(id);
    } catch (err) {
      replace(main, h("p", { class: "error" }, err instanceof ApiError ? err.detail : String(err)));
      return;
    }
    disposeMap();
    const mapEl = h("div", { class: "mini-map", role: "img", "aria-label": t("location") });
    const related = h("div", { "data-panel": "related" }, t("loading"));
    replace(
      main,
      eventCard(e),
      e.resolution ? h("section", { class: "panel" }, h("h2", null, t("resolution")), h("p", null, e.resolution)) : null,
      h("section", { class: "panel" }, h("h2", null, t("timeline")), timelineList(e)),
    );
    replace(
      side,
      h("section", { class: "panel" }, h("h2", null, t("actions")), actionPanel(e, () => void load())),
      h("section", { class: "panel" }, h("h2", null, t("location")), mapEl),
      related,
    );
    disposeMap = await drawMiniMap(mapEl, e);
    await loadRelated(related, e);
  };
  await load();
  const refresh = debounce(() => void load(), 800);
  const off = subscribe((m) => {
    if (m.topic.startsWith("events.") && (m.data as { id?: number }).id === id) refresh();
  });
  return () => {
    off();
    disposeMap();
  };
}

async function drawMiniMap(el: HTMLElement, e: EventOut): Promise<() => void> {
  const district = e.areas.district;
  if (!district) {
    el.replaceWith(h("p", { class: "empty" }, t("unlocated")));
    return () => {};
  }
  const geojson = await api<Parameters<typeof echarts.registerMap>[1]>(`/api/v1/areas/${district.code}/children.geojson`);
  const name = `detail-${district.code}`;
  echarts.registerMap(name, geojson);
  const { chart, dispose } = chartIn(el);
  chart.setOption({
    backgroundColor: "transparent",
    animation: false,
    geo: {
      map: name,
      roam: true,
      label: { show: true, color: TEXT, fontSize: 10 },
      itemStyle: {
        areaColor: "#13294b",
        borderColor: "#6fa8ff",
      },
      regions: e.areas.street ? [{ name: e.areas.street.name, itemStyle: { areaColor: "#2a5ca8" } }] : [],
    },
    series: e.location
      ? [
          {
            type: "effectScatter",
            coordinateSystem: "geo",
            data: [[e.location.lon, e.location.lat]],
            symbolSize: 14,
            itemStyle: { color: "#f5a524" },
          },
        ]
      : [],
  });
  return dispose;
}

async function loadRelated(box: HTMLElement, e: EventOut): Promise<void> {
  const related = await api<Related>(`/api/v1/dashboard/events/${e.id}/related`);
  replace(
    box,
    h(
      "section",
      { class: "panel" },
      h("h2", null, t("duplicates")),
      related.merged_into
        ? h("p", null, `${t("merged_into")} `, h("a", { href: `/events/${related.merged_into.id}`, "data-link": true }, related.merged_into.number))
        : null,
      eventTable(related.duplicates, { columns: ["created"] }),
    ),
    h(
      "section",
      { class: "panel" },
      h("h2", null, t("related_alerts")),
      related.alerts === null
        ? unavailable(t("unavailable_alerts"))
        : related.alerts.length
          ? h(
              "ul",
              { class: "related-alerts" },
              related.alerts.map((a) =>
                h("li", null, levelBadge(String(a.level)), " ", String(a.title), h("span", { class: "muted" }, ` · ${code("alert", String(a.status))}`)),
              ),
            )
          : h("p", { class: "empty" }, t("nothing")),
      related.readings ? null : unavailable(t("unavailable_readings")),
    ),
  );
}
