// 督办台: overdue (超期) and near-deadline (临期) events to press (督办), extension requests to decide, and
// the evaluation reports (考核) with charts.

import { api, type EvaluationRow, type EventPage } from "../api";
import { actionPanel } from "../components/actions";
import { unavailable } from "../components/badges";
import { eventCard, timelineList } from "../components/eventCard";
import { list, worklist } from "../components/worklist";
import { chartIn, MUTED, TEXT } from "../charts";
import { h, pct, replace } from "../dom";
import { code, t } from "../i18n";
import { loadErrorText } from "../problems";

export function supervisorView(root: HTMLElement): () => void {
  const report = h("section", { class: "panel report", "data-panel": "evaluation" });
  const w = worklist(
    [
      { key: "overdue", label: `⚠ ${t("overdue")}`, load: list({ deadline_state: "overdue" }), columns: ["department", "deadline"] },
      { key: "near", label: `◐ ${t("near")}`, load: list({ deadline_state: "near" }), columns: ["department", "deadline"] },
      {
        key: "extensions",
        label: t("extension_requests"),
        load: () => api<EventPage>("/api/v1/dashboard/extension-requests"),
        columns: ["department", "deadline"],
      },
      { key: "supervised", label: t("supervised_open"), load: list({ supervised: true, status: ["dispatched", "accepted", "in_progress", "suspended"] }), columns: ["department", "deadline"] },
    ],
    (e, done) =>
      h(
        "div",
        null,
        eventCard(e),
        actionPanel(e, done, {
          open: e.extension_requested_until && e.allowed_actions.includes("decide_extension") ? "decide_extension" : "supervise",
        }),
        h("h3", null, t("timeline")),
        timelineList(e),
      ),
    { title: t("supervise"), afterAction: "stay" },
  );
  root.append(w.element, report);
  const disposeReport = evaluationReport(report);
  return () => {
    w.dispose();
    disposeReport();
  };
}


/** The evaluation report: a bar chart of on-time rates and satisfaction per group, and the table. */
export function evaluationReport(box: HTMLElement): () => void {
  const groupBy = h(
    "select",
    { id: "eval-group" },
    ["department", "district", "street", "category"].map((g) => h("option", { value: g }, code("group", g))),
  );
  const period = h("select", { id: "eval-days" }, [7, 30, 90, 365].map((d) => h("option", { value: d, selected: d === 30 }, `${d} ${t("days")}`)));
  const chartEl = h("div", { class: "chart", role: "img", "aria-label": t("evaluation") });
  const table = h("div", { class: "table-wrap" });
  box.append(
    h("h2", null, t("evaluation")),
    h(
      "div",
      { class: "filters" },
      h("label", { for: "eval-group" }, t("group_by"), " "),
      groupBy,
      h("label", { for: "eval-days" }, t("period"), " "),
      period,
    ),
    chartEl,
    table,
  );
  const { chart, dispose } = chartIn(chartEl);
  const load = async () => {
    const since = new Date(Date.now() - Number(period.value) * 86_400_000).toISOString();
    try {
      const body = await api<{ rows: EvaluationRow[] }>("/api/v1/reports/evaluation", {
        query: { group_by: groupBy.value, since },
      });
      const rows = [...body.rows].sort((a, b) => b.volume - a.volume).slice(0, 15);
      drawChart(chart, rows);
      replace(table, reportTable(body.rows));
    } catch (err) {
      replace(table, unavailable(loadErrorText(err)));
    }
  };
  groupBy.addEventListener("change", () => void load());
  period.addEventListener("change", () => void load());
  void load();
  return dispose;
}

function drawChart(chart: ReturnType<typeof chartIn>["chart"], rows: EvaluationRow[]): void {
  const names = rows.map((r) => r.name);
  const series = (name: string, pick: (r: EvaluationRow) => number | null, color: string) => ({
    type: "bar",
    name,
    data: rows.map((r) => (pick(r) === null ? null : Math.round((pick(r) as number) * 1000) / 10)),
    itemStyle: { color },
    barMaxWidth: 14,
  });
  chart.setOption(
    {
      backgroundColor: "transparent",
      aria: { enabled: true },
      animation: false,
      tooltip: { trigger: "axis", valueFormatter: (v: number) => (v === null ? "—" : `${v}%`) },
      legend: { textStyle: { color: TEXT }, top: 0 },
      grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
      xAxis: {
        type: "category",
        data: names,
        axisLabel: { color: MUTED, rotate: 30, fontSize: 11, width: 120, overflow: "truncate" },
      },
      yAxis: { type: "value", max: 100, axisLabel: { color: MUTED, formatter: "{value}%" }, splitLine: { lineStyle: { color: "#22344f" } } },
      series: [
        series(t("signed_on_time"), (r) => r.signed_on_time_rate, "#20c5d8"),
        series(t("resolved_on_time"), (r) => r.resolved_on_time_rate, "#45c46b"),
        series(t("satisfaction"), (r) => r.satisfaction_rate, "#f5a524"),
      ],
    },
    { notMerge: true },
  );
}

function reportTable(rows: EvaluationRow[]): HTMLElement {
  if (rows.length === 0) return h("p", { class: "empty" }, t("nothing"));
  const cols: [string, (r: EvaluationRow) => string | number][] = [
    ["volume", (r) => r.volume],
    ["signed_on_time", (r) => pct(r.signed_on_time_rate)],
    ["resolved_on_time", (r) => pct(r.resolved_on_time_rate)],
    ["return_rate", (r) => pct(r.return_rate)],
    ["satisfaction", (r) => pct(r.satisfaction_rate)],
    ["mean_rating", (r) => (r.mean_rating === null ? "—" : r.mean_rating.toFixed(2))],
    ["handling_hours", (r) => (r.mean_handling_hours === null ? "—" : r.mean_handling_hours.toFixed(1))],
  ];
  return h(
    "table",
    { class: "report-table" },
    h("thead", null, h("tr", null, h("th", { scope: "col" }, t("dept")), cols.map(([c]) => h("th", { scope: "col" }, t(c))))),
    h(
      "tbody",
      null,
      [...rows].sort((a, b) => b.volume - a.volume).map((r) => h("tr", null, h("td", null, r.name), cols.map(([, f]) => h("td", null, f(r))))),
    ),
  );
}
